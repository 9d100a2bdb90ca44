"""Medical text streams: sources -> records -> experiences, and tokenization with a cache.

This package knows nothing of continual-learning strategies.
"""
from .base import ExperienceData, Records, SourceCard, Stream, SCENARIOS
from .registry import BUILTIN_STREAMS, register_stream

__all__ = [
    "BUILTIN_STREAMS",
    "ExperienceData",
    "Records",
    "SCENARIOS",
    "SourceCard",
    "Stream",
    "register_stream",
]
