"""Expanding heads: the output layer grows with each experience, earlier units are frozen."""
from .registry import HyperParam, StrategyParts, register_strategy


@register_strategy(
    "expanding-heads",
    family="architecture",
    paper="Rusu et al. 2016 (Progressive Neural Networks) in its simplest output-layer form; "
    "the expanding-head baseline of Masana et al. 2022 (class-incremental survey, TPAMI)",
    description="The output layer grows with each experience and the head units of earlier "
    "experiences are frozen; the encoder keeps training.",
    hyperparams=[
        HyperParam("unfreeze_old", False, "let the head units of earlier experiences train too",
                   "frozen, as in the expanding-head baseline"),
    ],
    scenarios=("class",),
)
def expanding_heads(params, context) -> StrategyParts:
    if params["unfreeze_old"]:
        return StrategyParts(plugins=[])
    from .expanding_heads_plugin import FreezeOldHeadUnits

    return StrategyParts(plugins=[FreezeOldHeadUnits()])
