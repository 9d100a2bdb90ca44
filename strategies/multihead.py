"""Multi-head fine-tuning: one output head per task, the task id known at test time."""
from .registry import StrategyParts, register_strategy


@register_strategy(
    "multihead",
    family="architecture",
    paper="The multi-head task-incremental baseline (Li & Hoiem 2016; van de Ven & Tolias 2019)",
    description="Sequential fine-tuning with Avalanche's MultiHeadClassifier: each task trains its "
    "own head over the shared encoder (the task scenario's default head).",
    scenarios=("task",),
)
def multihead(params, context) -> StrategyParts:
    return StrategyParts(plugins=[])
