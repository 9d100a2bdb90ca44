"""Elastic Weight Consolidation, separate and online (Avalanche's EWCPlugin, made fast for text)."""
from .registry import HyperParam, StrategyParts, register_strategy

_LAMBDA_HELP = (
    "weight of the quadratic penalty; the Fisher importances of a pretrained encoder are tiny, so "
    "text models need a far larger value than the vision papers"
)
_SAMPLES_HELP = (
    "examples drawn (seeded, without replacement) from each experience's training set for the "
    "Fisher importance pass; 0 = all of them (Avalanche's default)"
)
FISHER_SAMPLES = 256


@register_strategy(
    "ewc",
    family="regularization",
    paper="Kirkpatrick et al. 2017, Overcoming catastrophic forgetting in neural networks, PNAS",
    description="Quadratic penalty on parameter drift, weighted by the Fisher information of "
    "each past experience (kept as one merged penalty: memory does not grow with experiences).",
    hyperparams=[
        HyperParam("lambda", 1e6, _LAMBDA_HELP, "sweep 1e3..1e7 on icd10cm-chapters (README)"),
        HyperParam("fisher_samples", 0, _SAMPLES_HELP,
                   "Avalanche's full pass, on which lambda was tuned; 512 is faster (README)", minimum=0),
    ],
)
def ewc(params, context) -> StrategyParts:
    from .ewc_plugin import TextEWCPlugin

    plugin = TextEWCPlugin(ewc_lambda=params["lambda"], mode="separate",
                           fisher_samples=params["fisher_samples"], seed=context.seed)
    return StrategyParts(plugins=[plugin])


@register_strategy(
    "online-ewc",
    family="regularization",
    paper="Schwarz et al. 2018, Progress & Compress, ICML (online EWC)",
    description="EWC with one running importance copy, decayed at each experience.",
    hyperparams=[
        HyperParam("lambda", 1e6, _LAMBDA_HELP, "sweep 1e3..1e7 on icd10cm-chapters (README)"),
        HyperParam("decay", 0.9, "decay of the running importance (gamma)", "Schwarz et al. 2018"),
        HyperParam("fisher_samples", FISHER_SAMPLES, _SAMPLES_HELP,
                   "a subsample for speed; effect on accuracy in the README",
                   minimum=0),
    ],
)
def online_ewc(params, context) -> StrategyParts:
    from .ewc_plugin import TextEWCPlugin

    plugin = TextEWCPlugin(ewc_lambda=params["lambda"], mode="online", decay_factor=params["decay"],
                           fisher_samples=params["fisher_samples"], seed=context.seed)
    return StrategyParts(plugins=[plugin])
