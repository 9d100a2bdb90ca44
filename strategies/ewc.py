"""Elastic Weight Consolidation, separate and online (Avalanche's EWCPlugin)."""
from .registry import HyperParam, StrategyParts, register_strategy

_LAMBDA_HELP = (
    "weight of the quadratic penalty; the Fisher importances of a pretrained encoder are tiny, so "
    "text models need a far larger value than the vision papers"
)


@register_strategy(
    "ewc",
    family="regularization",
    paper="Kirkpatrick et al. 2017, Overcoming catastrophic forgetting in neural networks, PNAS",
    description="Quadratic penalty on parameter drift, weighted by the Fisher information of "
    "each past experience (one importance copy per experience).",
    hyperparams=[
        HyperParam("lambda", 1e6, _LAMBDA_HELP, "sweep 1e3..1e7 on icd10cm-chapters (README)"),
    ],
)
def ewc(params, context) -> StrategyParts:
    from avalanche.training.plugins import EWCPlugin

    return StrategyParts(plugins=[EWCPlugin(ewc_lambda=params["lambda"], mode="separate")])


@register_strategy(
    "online-ewc",
    family="regularization",
    paper="Schwarz et al. 2018, Progress & Compress, ICML (online EWC)",
    description="EWC with one running importance copy, decayed at each experience.",
    hyperparams=[
        HyperParam("lambda", 1e6, _LAMBDA_HELP, "sweep 1e3..1e7 on icd10cm-chapters (README)"),
        HyperParam("decay", 0.9, "decay of the running importance (gamma)", "Schwarz et al. 2018"),
    ],
)
def online_ewc(params, context) -> StrategyParts:
    from avalanche.training.plugins import EWCPlugin

    plugin = EWCPlugin(ewc_lambda=params["lambda"], mode="online", decay_factor=params["decay"])
    return StrategyParts(plugins=[plugin])
