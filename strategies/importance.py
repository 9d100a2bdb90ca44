"""Importance regularizers with an online or a per-example estimate: Synaptic Intelligence and
Memory Aware Synapses."""
from .registry import HyperParam, StrategyParts, register_strategy

_SAMPLES_HELP = (
    "examples drawn (seeded, without replacement, independent of the experience's stored order) "
    "from each experience's training set for the importance pass; 0 = all of them"
)


#: c from the validation protocol; the paper's c = 1 leaves this encoder's matrix equal to naive's
SI_SOURCE = ("validation of icd10cm-chapters, tuning seeds 10-11, grid c 1..1e6 x xi 1e-3, 0.1, then c 300..3000 "
             "at xi 1e-3 (results/reference/tuning/icd10cm-chapters/si/, si-fine/): the best validation ACC (0.323) "
             "keeps the first experience at the cost of learning the later ones (learning accuracy 0.34); "
             "c <= 100 equals naive (Zenke et al. 2017 use c = 1)")


@register_strategy(
    "si",
    family="regularization",
    paper="Zenke, Poole & Ganguli 2017, Continual Learning Through Synaptic Intelligence, ICML",
    description="Penalty c * sum Omega (theta - theta*)**2 (no 1/2, as the paper), theta* the weights "
    "at the end of the previous experience. Omega = max(0, Omega + omega / (Delta**2 + xi)) after each "
    "experience, omega = sum over its optimizer steps of -g * dtheta (g the task-loss gradient, "
    "penalty excluded; dtheta the actual update), Delta the experience's total change; no upper clip.",
    hyperparams=[
        HyperParam("lambda", 1e4, "strength c of the penalty", SI_SOURCE, minimum=0),
        HyperParam("damping", 1e-3, "xi > 0, added to Delta**2 in Omega's denominator",
                   "Zenke et al. 2017, split MNIST and split CIFAR-10/100 (xi = 1e-3); on validation only c / xi "
                   "mattered, so xi stays the paper's", minimum=1e-12),
    ],
)
def si(params, context) -> StrategyParts:
    from .importance_plugins import TextSIPlugin

    return StrategyParts(plugins=[TextSIPlugin(si_lambda=params["lambda"], eps=params["damping"])])


@register_strategy(
    "mas",
    family="regularization",
    paper="Aljundi et al. 2018, Memory Aware Synapses: Learning what (not) to forget, ECCV",
    description="Penalty lambda * sum Omega (theta - theta*)**2 (no 1/2, as the paper). Omega_new = mean "
    "over examples of |d ||f(x)||_2**2 / d theta| (f(x) the logits; one gradient per example, eval "
    "mode); across experiences the importances add up, Omega = Omega_prev + Omega_new, as the paper "
    "accumulates them (accumulate=average: Avalanche's alpha Omega_prev + (1 - alpha) Omega_new).",
    hyperparams=[
        HyperParam("lambda", 100.0, "weight of the penalty",
                   "validation of icd10cm-chapters, tuning seeds 10-11, grid 1, 100, 1e4, 1e6 "
                   "(results/reference/tuning/icd10cm-chapters/mas/): 100 has the best validation ACC (0.409; "
                   "learning accuracy 0.58); 1 (Aljundi et al. 2018) equals naive, 1e4 stops learning", minimum=0),
        HyperParam("accumulate", "sum", "how importances of successive experiences combine: sum (the "
                   "paper) or Avalanche's running average", "Aljundi et al. 2018 (accumulated importance)",
                   choices=("sum", "average")),
        HyperParam("alpha", 0.5, "weight of the previous importance with accumulate=average",
                   "Avalanche MASPlugin default", minimum=0, maximum=1),
        HyperParam("importance_samples", 128, _SAMPLES_HELP,
                   "validation of icd10cm-chapters, tuning seeds 10-11, grid 128, 256, 512, all (800-1 000 "
                   "texts) at lambda 100, one-standard-error rule (results/reference/tuning/icd10cm-chapters/"
                   "mas/, mas-samples/): 128 has the best validation ACC (0.421; 256: 0.411, 512: 0.409, all: "
                   "0.405; learning accuracy 0.57-0.59 for all four)", minimum=0),
    ],
)
def mas(params, context) -> StrategyParts:
    from .importance_plugins import TextMASPlugin

    return StrategyParts(plugins=[TextMASPlugin(lambda_reg=params["lambda"], alpha=params["alpha"],
                                                samples=params["importance_samples"], seed=context.seed,
                                                accumulate=params["accumulate"])])
