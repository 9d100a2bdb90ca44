"""The strategy registry: names -> specifications, each a configuration of Avalanche.

Importing this module is cheap (no torch, no Avalanche): builders import what they need when
called, so the CLI can check names and ``--set`` keys before any heavy import.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Optional, Sequence

#: "reference": points of comparison that are not continual learners (joint and cumulative see
#: past data again, zero-shot does not learn): comparison tables show them apart and never mark
#: them best. "baseline": the simple sequential learners every method must beat; they compete.
FAMILIES = ("reference", "baseline", "regularization", "replay", "distillation", "architecture", "PEFT")
ALL_SCENARIOS = ("class", "domain", "task")
#: What a stream asks its model to predict (streams.base.TASK_TYPES): one class per text, a BIO tag
#: per word, or a set of labels per text.
TASK_TYPES = ("single-label", "token", "multi-label")
TASK_TYPE_NAMES = {"single-label": "single-label classification", "token": "token tagging",
                   "multi-label": "multi-label classification"}
#: Where a training default comes from until the validation protocol (docs/reproducibility.md)
#: has chosen it.
PROVISIONAL = "provisional: replaced by the validation protocol (docs/reproducibility.md)"


class StrategyInputError(ValueError):
    """A strategy cannot run with this model or these settings: the message says why and what to
    change (the program reports it in one line, before any training)."""


@dataclass(frozen=True)
class HyperParam:
    """One hyperparameter: its name under ``--set <strategy>.<name>=``, default and provenance."""

    name: str
    default: Any
    help: str
    source: str = ""
    choices: Optional[tuple] = None
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    #: the value must be strictly above this (a temperature, a scale)
    above: Optional[float] = None

    def parse(self, text: str) -> Any:
        kind = type(self.default)
        try:
            if kind is bool:
                lowered = text.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                value: Any = lowered in ("true", "1", "yes")
            elif kind is int:
                value = int(text)
            elif kind is float:
                value = float(text)
            else:
                value = text
        except ValueError:
            raise ValueError(f"expects a {kind.__name__}, got {text!r}") from None
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"must be one of {', '.join(map(str, self.choices))}, got {text!r}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"must be at least {self.minimum:g}, got {text!r}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"must be at most {self.maximum:g}, got {text!r}")
        if self.above is not None and value <= self.above:
            raise ValueError(f"must be above {self.above:g}, got {text!r}")
        return value


@dataclass
class StrategyContext:
    """What a builder may read about the run (no data, no texts)."""

    batch_size: int
    n_classes: int
    #: the run seed: a builder derives its own generators from it (``streams.seeds``)
    seed: int
    tokenizer: Any = None
    #: names or descriptions per class id (class/domain) or per task: list of per-task name lists
    class_descriptions: Any = None
    #: the longest text in tokens (``--max-length``): methods that add positions check it
    max_length: Optional[int] = None
    #: what the model predicts (:data:`TASK_TYPES`): the builder picks its loss and distillation
    #: for it (``strategies.task_losses``)
    task_type: str = "single-label"


@dataclass
class StrategyParts:
    """What a builder returns: Avalanche plugins and, optionally, another Avalanche template."""

    plugins: list = field(default_factory=list)
    template: Optional[type] = None
    template_kwargs: dict = field(default_factory=dict)
    #: changes the model before the optimizer is built (freeze the encoder, add adapters, ...)
    prepare_model: Optional[Callable[[Any], Any]] = None
    #: the template trains once on the whole stream (joint training); rows of R are identical
    trains_once: bool = False


@dataclass(frozen=True)
class TrainingDefault:
    """A training setting (a field of ``continual.config.TrainingConfig``) that a strategy sets
    for itself where full fine-tuning's default does not suit it, and where the value comes from."""

    field: str
    value: Any
    source: str


@dataclass(frozen=True)
class StrategySpec:
    name: str
    family: str
    paper: str
    description: str
    hyperparams: tuple[HyperParam, ...]
    scenarios: tuple[str, ...]
    build: Callable[[dict, StrategyContext], StrategyParts]
    composable: bool = True
    #: the training settings this strategy starts from, above TrainingConfig's defaults and
    #: below the config file, the flags and ``--set training.x=``
    training_defaults: tuple[TrainingDefault, ...] = ()
    #: the task types (:data:`TASK_TYPES`) whose outputs this strategy knows how to train on
    task_types: tuple[str, ...] = ("single-label",)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.hyperparams}

    @property
    def reference_row(self) -> bool:
        """Whether comparison tables show this strategy apart from the contenders, never best."""
        return self.family == "reference"


STRATEGIES: dict[str, StrategySpec] = {}


def register_strategy(
    name: str,
    *,
    family: str,
    paper: str,
    description: str,
    hyperparams: Sequence[HyperParam] = (),
    scenarios: Sequence[str] = ALL_SCENARIOS,
    composable: bool = True,
    training_defaults: dict[str, tuple[Any, str]] | None = None,
    task_types: Sequence[str] = ("single-label",),
):
    """Register a builder ``(params, context) -> StrategyParts`` under ``name``.

    ``training_defaults`` maps a TrainingConfig field to ``(value, source)``: e.g. a head-only
    learning rate, ``{"lr": (1e-3, "Kumar et al. 2022")}``. Each needs its source.
    ``task_types`` lists the task types the builder handles (it reads ``context.task_type``);
    a run of any other is refused before training (:func:`unsupported_task_type`).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}")
    unknown = [t for t in task_types if t not in TASK_TYPES]
    if unknown or not task_types:
        raise ValueError(f"strategy {name!r}: task types must be some of {', '.join(TASK_TYPES)}, "
                         f"got {list(task_types)}")
    training = []
    for key, entry in (training_defaults or {}).items():
        if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], str) and entry[1]):
            raise ValueError(f"training default {name}.{key} must be (value, source text)")
        training.append(TrainingDefault(key, *entry))

    def decorator(build):
        if name in STRATEGIES:
            raise ValueError(f"strategy {name!r} is registered twice")
        STRATEGIES[name] = StrategySpec(
            name, family, paper, description, tuple(hyperparams), tuple(scenarios), build, composable,
            tuple(training), tuple(task_types),
        )
        return build

    return decorator


def closest(name: str, names) -> str:
    """' (did you mean X?)' for the closest known name, or ''."""
    match = difflib.get_close_matches(name, list(names), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


#: Pairs that make no sense together, with the reason given to the user.
CONFLICTS = {
    frozenset({"gem", "agem"}): "both project the gradient against a memory; pick one",
    frozenset({"ewc", "online-ewc"}): "they are two modes of the same EWC penalty; pick one",
    frozenset({"frozen", "lora"}): "frozen trains no encoder weights, lora adapts the encoder; pick one",
    frozenset({"expanding-heads", "lwf"}): "LwF distils the old head units that expanding-heads "
    "freezes; use expanding-heads with --set expanding-heads.unfreeze_old=true for that",
    frozenset({"seq-star", "frozen"}): "seq-star already freezes the encoder (it is frozen with the "
    "old head units frozen too); use seq-star alone",
    frozenset({"seq-star", "lora"}): "seq-star keeps the encoder as pretrained, lora adapts it; pick one",
    frozenset({"seq-star", "expanding-heads"}): "both freeze the head units of earlier classes; "
    "seq-star also freezes the encoder: pick one",
    frozenset({"seq-star", "lwf"}): "LwF distils the old head units that seq-star freezes on a "
    "frozen encoder, so there is nothing left for it to protect; use seq-star alone",
}
#: the parameter-efficient methods that each decide which tensors of the encoder train
ENCODER_METHODS = ("frozen", "lora", "bitfit", "adapters", "prompt-tuning", "prefix-tuning", "ia3")
for _i, _a in enumerate(ENCODER_METHODS):
    for _b in ENCODER_METHODS[_i + 1:]:
        CONFLICTS.setdefault(frozenset({_a, _b}), f"{_a} and {_b} each decide which encoder tensors train; pick one")
    CONFLICTS.setdefault(frozenset({"seq-star", _a}), f"seq-star keeps the encoder as pretrained, {_a} adapts it; "
                         "pick one")


def canonical_name(parts: Sequence[str]) -> str:
    """The one spelling of a composition: components in registry order, joined by '+'."""
    order = list(STRATEGIES)
    return "+".join(sorted(set(parts), key=order.index))


def parse_strategy(text: str) -> tuple[str, list[str]]:
    """``'ewc+replay'`` -> (``'ewc+replay'`` in canonical order, components); ValueError if bad."""
    parts = [p.strip() for p in text.split("+")]
    for part in parts:
        if part not in STRATEGIES:
            raise ValueError(
                f"unknown strategy {part!r}{closest(part, STRATEGIES)}; "
                "see --list-strategies for the names"
            )
    if len(set(parts)) != len(parts):
        raise ValueError(f"strategy {text!r} names a component twice")
    if len(parts) > 1:
        for part in parts:
            if not STRATEGIES[part].composable:
                raise ValueError(
                    f"{part!r} cannot be combined with '+': it is not a plugin on the shared "
                    "training loop; run it on its own"
                )
        if "naive" in parts:
            raise ValueError("'naive' adds nothing to a composition: leave it out of the '+' name")
        for pair, reason in CONFLICTS.items():
            if pair <= set(parts):
                a, b = sorted(pair)
                raise ValueError(f"{a!r} and {b!r} cannot be combined: {reason}")
    return canonical_name(parts), parts


def resolve_params(name: str, overrides: dict[str, str]) -> dict[str, Any]:
    """The hyperparameters of strategy ``name``: defaults, then ``--set name.key=value`` values."""
    spec = STRATEGIES[name]
    params = spec.defaults()
    by_name = {p.name: p for p in spec.hyperparams}
    for key, text in overrides.items():
        if key not in by_name:
            known = ", ".join(by_name) or "none"
            raise ValueError(
                f"--set {name}.{key}: {name!r} has no hyperparameter {key!r}{closest(key, by_name)} "
                f"(its hyperparameters: {known})"
            )
        try:
            params[key] = by_name[key].parse(text)
        except ValueError as err:
            raise ValueError(f"--set {name}.{key} {err}") from None
    return params


def resolve_training_defaults(name: str, given: Collection[str] = ()) -> dict[str, TrainingDefault]:
    """The training defaults of strategy ``name`` by field (a composition takes those of its
    components), leaving out the fields in ``given`` (set by the user, so they win); ValueError
    when two components declare different values for a field left to them."""
    found: dict[str, TrainingDefault] = {}
    owner: dict[str, str] = {}
    for part in name.split("+"):
        for default in STRATEGIES[part].training_defaults:
            if default.field in given:
                continue
            earlier = found.get(default.field)
            if earlier is not None and earlier.value != default.value:
                raise ValueError(
                    f"{owner[default.field]!r} and {part!r} declare different training defaults for "
                    f"{default.field} ({earlier.value!r} and {default.value!r}): choose one with "
                    f"--set training.{default.field}=VALUE"
                )
            found.setdefault(default.field, default)
            owner.setdefault(default.field, part)
    return found


def supporting(task_type: str) -> list[str]:
    """The registered strategies that declare ``task_type``, in registry order."""
    return [name for name, spec in STRATEGIES.items() if task_type in spec.task_types]


def unsupported_task_type(strategy: str | Sequence[str], task_type: str) -> Optional[str]:
    """Why ``strategy`` (a name, ``'replay+ewc'``, or its components) cannot train on a stream of
    ``task_type``, in one line naming the strategies that can; None when every component
    declares it (a composition supports the task types its components share)."""
    parts = [p.strip() for p in strategy.split("+")] if isinstance(strategy, str) else list(strategy)
    if task_type not in TASK_TYPES:
        return f"unknown task type {task_type!r} (known: {', '.join(TASK_TYPES)})"
    unknown = [p for p in parts if p not in STRATEGIES]
    if unknown:
        return f"unknown strategy {unknown[0]!r}{closest(unknown[0], STRATEGIES)}; see --list-strategies for the names"
    lacking = [p for p in parts if task_type not in STRATEGIES[p].task_types]
    if not lacking:
        return None
    named = ", ".join(repr(p) for p in lacking)
    which = ("" if len(parts) == 1 else f": its component {named} does not" if len(lacking) == 1
             else f": its components {named} do not")
    return (f"strategy {'+'.join(parts)!r} does not support {TASK_TYPE_NAMES[task_type]} streams (task type "
            f"{task_type!r}){which}; the strategies that do: {', '.join(supporting(task_type))}")


def is_reference_row(name: str) -> bool:
    """Whether the strategy ``name`` (as a run records it) is a point of reference rather than a
    contender; names the registry does not know (an older run's) are contenders."""
    return any(part in STRATEGIES and STRATEGIES[part].reference_row for part in name.split("+"))


def describe(spec: StrategySpec) -> str:
    lines = [
        f"{spec.name}  [{spec.family}]  scenarios: {', '.join(spec.scenarios)}  "
        f"task types: {', '.join(spec.task_types)}"
        + ("" if spec.composable else "  (not composable with '+')"),
        f"    {spec.description}",
        f"    paper: {spec.paper}",
    ]
    if spec.reference_row:
        lines.append("    a point of reference: comparison tables show it apart and never mark it best")
    for p in spec.hyperparams:
        source = f" [default from {p.source}]" if p.source else ""
        lines.append(f"    --set {spec.name}.{p.name}={p.default!r}: {p.help}{source}")
    for default in spec.training_defaults:
        lines.append(f"    --set training.{default.field}={default.value!r}: this strategy's training default (a "
                     f"config file or flag overrides it too) [default from {default.source}]")
    return "\n".join(lines)
