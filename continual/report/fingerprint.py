"""What makes two runs the same experiment: a configuration fingerprint, and short row labels.

A run's fingerprint is every setting that changes its results: the model, the stream settings
(sizes, splits, lengths), the training settings and the strategy's hyperparameters; not the
seed, the experience order, paths, the device or the thread count. It is computed from the
run's config.json, with the defaults of fields an older version did not write, so runs of any
age compare. Runs of one (stream, strategy) with different fingerprints are different rows of a
comparison, labelled by the settings that tell them apart (``ewc (λ=1e4)``, ``naive
(Bio_ClinicalBERT)``).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional

#: settings that do not change results, or that a run's folder already names
LEFT_OUT = {"stream.cache_dir", "stream.no_cache", "stream.data", "stream.stream", "stream.name",
            "stream.class_order", "stream.domain_order", "stream.task_order", "training.device"}
#: how a few keys read in labels
SHORT = {"lambda": "λ", "train_per_class": "train/class", "learning_rate": "lr"}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: value}


def settings_of(config_json: dict) -> dict[str, Any]:
    """The fingerprint's settings of a run's config.json, flattened (``training.lr``,
    ``ewc.lambda``); empty for a run without one."""
    from ..config import config_from_dict

    if not config_json or "config" not in config_json:
        return {}
    config = config_from_dict(config_json["config"]).to_dict()
    flat = _flatten({section: config.get(section, {}) for section in ("stream", "model", "training")})
    flat.update(_flatten(config_json.get("strategy_hyperparameters") or {}))
    return {k: v for k, v in sorted(flat.items()) if k not in LEFT_OUT}


def read_settings(run_dir: Path) -> dict[str, Any]:
    """:func:`settings_of` the config.json in ``run_dir`` (empty when there is none or it is unreadable)."""
    try:
        return settings_of(json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def fingerprint_id(settings: dict[str, Any]) -> str:
    """A short stable digest of the settings ('' for none)."""
    if not settings:
        return ""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def format_value(value: Any) -> str:
    """A setting's value as a label shows it: 1e4, 0.001, Bio_ClinicalBERT."""
    if isinstance(value, float):
        if value and (abs(value) >= 1e4 or abs(value) < 1e-3):
            mantissa, exponent = f"{value:e}".split("e")
            mantissa = mantissa.rstrip("0").rstrip(".")
            return f"{mantissa}e{int(exponent)}"
        return f"{value:g}"
    return str(value)


def setting_label(key: str, value: Any) -> str:
    """``λ=1e4``, ``lr=0.001``; the model alone by its folder or hub name."""
    if key == "model.model":
        return "packaged MiniLM" if value is None else Path(str(value)).name
    name = key.rpartition(".")[2]
    return f"{SHORT.get(name, name)}={format_value(value)}"


def labels(runs_settings: dict[tuple, dict[str, Any]]) -> dict[tuple, str]:
    """Row labels for the configurations ``{(stream, strategy, fingerprint): settings}`` shown
    together: the settings that differ between the configurations of one (stream, strategy),
    and the model and stream settings that differ anywhere in the table (a model comparison
    labels every row with its model)."""
    by_pair: dict[tuple, list[dict]] = {}
    for (stream, strategy, _), settings in runs_settings.items():
        by_pair.setdefault((stream, strategy), []).append(settings)
    context = _differing([s for s in runs_settings.values()], lambda k: k.startswith(("model.", "stream.")))
    out = {}
    for key, settings in runs_settings.items():
        within = _differing(by_pair[key[:2]], lambda k: True)
        shown = sorted(set(within) | set(context), key=lambda k: (k != "model.model", k))
        out[key] = ", ".join(setting_label(k, settings.get(k)) for k in shown if k in settings)
    return out


def _differing(settings: list[dict], keep) -> list[str]:
    keys = {k for s in settings for k in s if keep(k)}
    return [k for k in keys if len({json.dumps(s.get(k), default=str) for s in settings}) > 1]


def matches(settings: dict[str, Any], run_fields: dict[str, Any], condition: str) -> Optional[bool]:
    """Whether a run satisfies ``KEY=VALUE`` (``--filter``): KEY is a setting (``ewc.lambda``,
    ``model.model``, or its last part, ``lambda``) or a run field (``strategy``, ``stream``,
    ``seed``); None when no run could have KEY."""
    key, _, wanted = condition.partition("=")
    candidates = {**{k: v for k, v in settings.items()}, **run_fields}
    found = [v for k, v in candidates.items() if k == key or k.rpartition(".")[2] == key]
    if not found:
        return None
    for value in found:
        if str(value) == wanted or (key.endswith("model") and value is not None and Path(str(value)).name == wanted):
            return True
        try:
            if float(value) == float(wanted):
                return True
        except (TypeError, ValueError):
            pass
    return False
