"""Gradient Episodic Memory and its averaged variant (Avalanche GEMPlugin / AGEMPlugin)."""
from .registry import HyperParam, StrategyParts, register_strategy

TUNED = ("validation of icd10cm-chapters, tuning seeds 10-11, gamma 0, 0.5, 1 "
         "(results/reference/tuning/icd10cm-chapters/gem/): 1 has the best validation ACC (0.595; 0.5: 0.590, "
         "inside the seeds' spread; 0, the bare projection: 0.300); Lopez-Paz & Ranzato use 0.5")


@register_strategy(
    "gem",
    family="replay",
    paper="Lopez-Paz & Ranzato 2017, Gradient Episodic Memory for Continual Learning, NeurIPS",
    description="Projects each gradient so the loss on every past experience's memory does not "
    "increase (a quadratic program per step, solved with quadprog).",
    hyperparams=[
        HyperParam("patterns_per_exp", 32, "memory per experience: every step runs all of it",
                   "a budget, not a tuned value: 160 texts after 5 experiences, a third of replay's 500, "
                   "because GEM runs a gradient over all of it at every step", minimum=1),
        HyperParam("memory_strength", 1.0, "margin of the projection (gamma): the memories' gradients enter "
                   "with at least this weight", TUNED, minimum=0),
    ],
)
def gem(params, context) -> StrategyParts:
    from avalanche.training.plugins import GEMPlugin

    return StrategyParts(plugins=[GEMPlugin(patterns_per_experience=params["patterns_per_exp"],
                                            memory_strength=params["memory_strength"])])

#: A-GEM's guarantee (the step does not raise the memory loss, to first order) holds for the step
#: -lr * g of plain SGD (Chaudhry et al. 2019, Algorithm 1). AdamW rescales each coordinate, and on
#: the default stream most projected AdamW steps raise the memory loss (docs/strategies.md, A-GEM).
AGEM_TRAINING = {
    "optimizer": ("sgd", "Chaudhry et al. 2019, Algorithm 1: the projected gradient is the SGD step"),
    "weight_decay": (0.0, "Chaudhry et al. 2019: the step is the projected gradient alone"),
    "lr": (0.03, "validation of icd10cm-chapters, tuning seeds 10-11, SGD lr 0.01, 0.03, 0.1 "
                 "(results/reference/tuning/icd10cm-chapters/agem/): 0.03 has the best validation ACC (0.223; "
                 "0.01: 0.195; 0.1 diverges: 0.074), learning accuracy 0.91"),
}


@register_strategy(
    "agem",
    family="replay",
    paper="Chaudhry et al. 2019, Efficient Lifelong Learning with A-GEM, ICLR",
    description="Projects the gradient when it conflicts with the average gradient on a sample "
    "of the episodic memory.",
    hyperparams=[
        HyperParam("patterns_per_exp", 64, "memory per experience", "a budget, not a tuned value: 320 texts after 5 "
                   "experiences, two thirds of replay's 500 (A-GEM reads one sampled batch of it per step)", minimum=1),
        HyperParam("sample_size", 32, "memory examples per reference gradient",
                   "one training batch, as in Chaudhry et al. 2019", minimum=1),
    ],
    training_defaults=AGEM_TRAINING,
)
def agem(params, context) -> StrategyParts:
    from .agem_plugin import TextAGEMPlugin

    return StrategyParts(plugins=[TextAGEMPlugin(patterns_per_experience=params["patterns_per_exp"],
                                                 sample_size=params["sample_size"])])
