"""The run command's listings: the built-in streams with their cards (``--list-streams``) and
the strategies with their hyperparameters (``--list-strategies``)."""
from __future__ import annotations


def list_streams() -> str:
    """Each built-in stream built at seed 0: scenario, sizes per experience and its source card."""
    from streams import BUILTIN_STREAMS

    blocks = []
    for spec in BUILTIN_STREAMS.values():
        stream = spec.build(seed=0)
        card = stream.card
        sizes = "; ".join(
            f"exp {e.id}: {len(e.classes)} classes, {e.n_train} train / {e.n_test} test"
            for e in stream.experiences
        )
        blocks.append("\n".join([
            f"{spec.name}  [{spec.scenario}-incremental, {len(stream.experiences)} experiences, {stream.n_classes} classes]",
            f"    {spec.description}",
            f"    sizes (seed 0; caps 100 train / 50 test per class): {sizes}",
            f"    texts: {sum(e.n_train + e.n_test for e in stream.experiences)} in this split",
            f"    source: {card.source}",
            f"    version: {card.version}",
            f"    licence: {card.licence}",
            f"    citation: {card.citation}",
            *[f"    note: {n}" for n in stream.notes],
        ]))
    return "\n\n".join(blocks)


def list_strategies(names=None) -> str:
    """Each registered strategy (or those of ``names``): family, scenarios, paper and
    hyperparameters with defaults; a UserError for a name that is not registered."""
    from strategies import STRATEGIES, describe

    from ..errors import UserError, closest

    for name in names or []:
        if name not in STRATEGIES:
            raise UserError(f"unknown strategy {name!r}{closest(name, STRATEGIES)}; run --list-strategies for all names")
    return "\n\n".join(describe(STRATEGIES[n]) for n in (names or STRATEGIES))
