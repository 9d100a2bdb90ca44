"""Medical text streams: sources -> records -> experiences, and tokenization with a cache.

This package knows nothing of continual-learning strategies.
"""
from .base import DataError, ExperienceData, Records, SourceCard, Stream, SCENARIOS, validation_view
from .builders import build_stream
from .registry import BUILTIN_STREAMS, register_stream
from .sources import SourceTable, load_source

__all__ = [
    "BUILTIN_STREAMS",
    "DataError",
    "ExperienceData",
    "Records",
    "SCENARIOS",
    "SourceCard",
    "SourceTable",
    "Stream",
    "build_stream",
    "load_source",
    "register_stream",
    "validation_view",
]
