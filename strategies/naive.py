"""Sequential fine-tuning: the lower bound every continual-learning method must beat."""
from .registry import TASK_TYPES, StrategyParts, register_strategy


@register_strategy(
    "naive",
    family="baseline",
    paper="Sequential fine-tuning (the lower bound in e.g. Lopez-Paz & Ranzato 2017)",
    description="Fine-tune on each experience in turn with no protection against forgetting.",
    task_types=TASK_TYPES,
)
def naive(params, context) -> StrategyParts:
    return StrategyParts(plugins=[])
