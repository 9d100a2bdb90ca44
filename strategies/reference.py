"""Reference points: joint training (upper bound) and cumulative retraining (Avalanche templates)."""
from .registry import StrategyParts, register_strategy


@register_strategy(
    "joint",
    family="reference",
    paper="Offline (non-continual) training on all experiences at once: the upper bound",
    description="Trains once on the union of all experiences; its accuracy matrix has T identical "
    "rows, and training time is reported once (first experience).",
    composable=False,
)
def joint(params, context) -> StrategyParts:
    from avalanche.training import JointTraining

    return StrategyParts(template=JointTraining, trains_once=True)


@register_strategy(
    "cumulative",
    family="reference",
    paper="Cumulative retraining on all data seen so far (Avalanche Cumulative baseline)",
    description="At each experience, trains on the union of it and every earlier experience.",
    composable=False,
)
def cumulative(params, context) -> StrategyParts:
    from avalanche.training import Cumulative

    return StrategyParts(template=Cumulative)
