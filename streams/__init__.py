"""Medical text streams: sources -> records -> experiences, and tokenization with a cache.

This package knows nothing of continual-learning strategies.
"""
from .base import (DataError, ExperienceData, Records, SourceCard, Stream, SCENARIOS, TASK_TYPES,
                   validation_view)
from .builders import build_stream
from .multilabel import MultiLabelTable, load_multilabel_source
from .registry import BUILTIN_STREAMS, register_stream
from .sources import SourceTable, load_source
from .tagging import (TokenTable, detect_task_type, load_token_source, tag_id, tag_names,
                      type_of_tag)
from .task_builders import build_multilabel_stream, build_token_stream

__all__ = [
    "BUILTIN_STREAMS",
    "DataError",
    "ExperienceData",
    "MultiLabelTable",
    "Records",
    "SCENARIOS",
    "SourceCard",
    "SourceTable",
    "Stream",
    "TASK_TYPES",
    "TokenTable",
    "build_multilabel_stream",
    "build_stream",
    "build_token_stream",
    "detect_task_type",
    "load_multilabel_source",
    "load_source",
    "load_token_source",
    "register_stream",
    "tag_id",
    "tag_names",
    "type_of_tag",
    "validation_view",
]
