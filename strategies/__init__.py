"""Continual-learning strategies, each a configuration of Avalanche, registered by name.

Every module is imported here explicitly (no directory scans); importing is cheap because the
builders import Avalanche only when they are called.
"""
# The import order is the registry order, which is the canonical order of '+' compositions
# (replay first, then regularization, then distillation: 'replay+ewc', 'replay+lwf').
from . import naive, reference, replay, der, icarl, gem, ewc, importance, lwf  # noqa: F401,I001
from . import expanding_heads, multihead, peft_strategies, efficient, seq_star, zero_shot  # noqa: F401,I001
from .registry import (
    STRATEGIES,
    TASK_TYPES,
    HyperParam,
    StrategyContext,
    StrategyInputError,
    StrategyParts,
    StrategySpec,
    TrainingDefault,
    describe,
    is_reference_row,
    parse_strategy,
    register_strategy,
    resolve_params,
    resolve_training_defaults,
    unsupported_task_type,
)

__all__ = [
    "STRATEGIES",
    "TASK_TYPES",
    "HyperParam",
    "StrategyContext",
    "StrategyInputError",
    "StrategyParts",
    "StrategySpec",
    "TrainingDefault",
    "describe",
    "is_reference_row",
    "parse_strategy",
    "register_strategy",
    "resolve_params",
    "resolve_training_defaults",
    "unsupported_task_type",
]
