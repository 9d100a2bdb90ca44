"""Elastic Weight Consolidation, separate and online, with the papers' empirical Fisher."""
from .registry import HyperParam, StrategyParts, register_strategy

_LAMBDA_HELP = (
    "lambda of the penalty lambda/2 * sum F (theta - theta*)**2; the Fisher of a pretrained "
    "encoder is tiny, so text models need a far larger value than the vision papers"
)
_SAMPLES_HELP = (
    "examples drawn (seeded, without replacement, independent of the experience's stored order) "
    "from each experience's training set for the Fisher; 0 = all of them"
)
#: the Fisher pass's cost grows with its sample, so its size is chosen by the one-standard-error
#: rule: the cheapest setting whose validation ACC is within one standard error of the best
SAMPLES_SOURCE = (
    "validation of icd10cm-chapters, tuning seeds 10-11, grid 128, 256, 512, all (800-1 000 texts) at "
    "lambda 1e6, one-standard-error rule (results/reference/tuning/icd10cm-chapters/ewc/, ewc-samples/): "
    "128 has the best validation ACC (0.419; 512: 0.399, 256: 0.397, all: 0.384), its margin from tuning "
    "seed 10, where its Fisher protected the first experience less (forgetting 0.33 against 0.11-0.15)"
)
ONLINE_SAMPLES_SOURCE = (
    "validation of icd10cm-chapters, tuning seeds 10-11, grid 128, 256, 512, all (800-1 000 texts) at "
    "lambda 1e6 and decay 0.9, one-standard-error rule (results/reference/tuning/icd10cm-chapters/"
    "online-ewc/, online-ewc-samples/): 256 has the best validation ACC (0.401; 512: 0.397, all: 0.379, "
    "128: 0.373, whose Fisher on tuning seed 10 protected the first experience less)"
)
_FISHER = (
    "F = mean over examples of (d log p(y|x) / d theta)**2, y the true label: the empirical Fisher, "
    "one squared gradient per example (eval mode), independent of the examples' order"
)
_FISHER_TASKS = (
    "For token tagging log p(y|x) sums over the tagged words of the example, for multi-label it is "
    "the Bernoulli log-likelihood of its label units."
)
FISHER_SAMPLES = 128
ONLINE_FISHER_SAMPLES = 256
LAMBDA = 1e6
LAMBDA_SOURCE = (
    "validation of icd10cm-chapters, tuning seeds 10-11, grid 1e4, 1e5, 1e6, 1e7 "
    "(results/reference/tuning/icd10cm-chapters/ewc/): 1e6 has the best validation ACC (0.399; "
    "learning accuracy 0.50); 1e4 equals naive, 1e7 stops learning"
)

ONLINE_SOURCE = (
    "validation of icd10cm-chapters, tuning seeds 10-11, lambda 1e5, 1e6, 1e7 x decay 0.9, 1.0 "
    "(results/reference/tuning/icd10cm-chapters/online-ewc/): lambda 1e6 with decay 0.9 has the best "
    "validation ACC (0.397; decay 1.0: 0.392; learning accuracy 0.49)"
)


@register_strategy(
    "ewc",
    family="regularization",
    paper="Kirkpatrick et al. 2017, Overcoming catastrophic forgetting in neural networks, PNAS",
    description="Penalty lambda/2 * sum_k sum F_k (theta - theta_k)**2 over past experiences k "
    f"(the 1/2 of the paper's eq. 3), theta_k the weights after experience k; {_FISHER}. Kept as "
    f"one merged penalty: memory does not grow with experiences. {_FISHER_TASKS}",
    hyperparams=[
        HyperParam("lambda", LAMBDA, _LAMBDA_HELP, LAMBDA_SOURCE, minimum=0),
        HyperParam("fisher_samples", FISHER_SAMPLES, _SAMPLES_HELP, SAMPLES_SOURCE, minimum=0),
    ],
    task_types=("single-label", "token", "multi-label"),
)
def ewc(params, context) -> StrategyParts:
    from .ewc_plugin import TextEWCPlugin

    plugin = TextEWCPlugin(ewc_lambda=params["lambda"], mode="separate",
                           fisher_samples=params["fisher_samples"], seed=context.seed, task_type=context.task_type)
    return StrategyParts(plugins=[plugin])


@register_strategy(
    "online-ewc",
    family="regularization",
    paper="Schwarz et al. 2018, Progress & Compress, ICML (online EWC)",
    description="Penalty lambda/2 * sum F* (theta - theta*)**2, theta* the weights after the previous "
    "experience, F* = gamma F*_prev + F its running Fisher (Schwarz et al. weight the penalty by "
    f"gamma F*; that constant factor is left to lambda here); {_FISHER}.",
    hyperparams=[
        HyperParam("lambda", LAMBDA, _LAMBDA_HELP, ONLINE_SOURCE, minimum=0),
        HyperParam("decay", 0.9, "decay gamma of the running Fisher (Schwarz et al. 2018)", ONLINE_SOURCE,
                   minimum=0, maximum=1),
        HyperParam("fisher_samples", ONLINE_FISHER_SAMPLES, _SAMPLES_HELP, ONLINE_SAMPLES_SOURCE, minimum=0),
    ],
)
def online_ewc(params, context) -> StrategyParts:
    from .ewc_plugin import TextEWCPlugin

    plugin = TextEWCPlugin(ewc_lambda=params["lambda"], mode="online", decay_factor=params["decay"],
                           fisher_samples=params["fisher_samples"], seed=context.seed)
    return StrategyParts(plugins=[plugin])
