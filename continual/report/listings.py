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
        unit = "entity types" if spec.task_type == "token" else "classes"
        sizes = "; ".join(
            f"exp {e.id}: {len(e.classes)} {unit}, {e.n_train} train / {e.n_test} test"
            for e in stream.experiences
        )
        train, test = _default_caps(spec)
        per = "sentences per entity type" if spec.task_type == "token" else "texts per class"
        blocks.append("\n".join([
            f"{spec.name}  [{spec.scenario}-incremental, {spec.task_type}, {len(stream.experiences)} experiences, "
            f"{stream.n_classes} {unit}]",
            f"    {spec.description}",
            f"    sizes (seed 0; caps {train} train / {test} test {per}): {sizes}",
            *([f"    training defaults: " + "; ".join(f"{f} {v} ({src})" for f, v, src in spec.training_defaults)]
              if spec.training_defaults else []),
            f"    texts: {sum(e.n_train + e.n_test for e in stream.experiences)} in this split",
            f"    source: {card.source}",
            f"    version: {card.version}",
            f"    licence: {card.licence}",
            f"    citation: {card.citation}",
            *[f"    note: {n}" for n in stream.notes],
        ]))
    return "\n\n".join(blocks)


def _default_caps(spec) -> tuple:
    """The builder's own default per-class caps (what ``spec.build(seed=0)`` used)."""
    import inspect

    parameters = inspect.signature(spec.build).parameters
    return parameters["train_per_class"].default, parameters["test_per_class"].default


def list_strategies(names=None) -> str:
    """Each registered strategy (or those of ``names``): family, scenarios, paper and
    hyperparameters with defaults; a UserError for a name that is not registered."""
    from strategies import STRATEGIES, describe

    from ..errors import UserError, closest

    for name in names or []:
        if name not in STRATEGIES:
            raise UserError(f"unknown strategy {name!r}{closest(name, STRATEGIES)}; run --list-strategies for all names")
    return "\n\n".join(describe(STRATEGIES[n]) for n in (names or STRATEGIES))
