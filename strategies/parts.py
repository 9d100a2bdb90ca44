"""A batch run in consecutive parts, each cut to its own longest text: the switch that replaying
strategies turn on around a forward. The encoder (``continual.model.TextEncoder``) is found by its
``length_parts`` attribute, so this package needs nothing from ``continual``."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Optional, Sequence


def set_parts(model, parts: Optional[Sequence[int]]) -> None:
    """Cut each batch that ``model``'s encoders see from now on into the consecutive ``parts``
    (row counts), each run at its own length; ``None`` or one part: whole batches again."""
    for module in model.modules():
        if hasattr(module, "length_parts"):
            module.length_parts = list(parts) if parts and len(parts) > 1 else None


@contextmanager
def in_parts(model, parts: Optional[Sequence[int]]):
    """:func:`set_parts` for the forwards inside the block."""
    set_parts(model, parts)
    try:
        yield
    finally:
        set_parts(model, None)
