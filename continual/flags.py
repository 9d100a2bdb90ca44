"""Command-line flags generated from the config dataclasses' fields (as transformers'
``HfArgumentParser`` does), so a field's default, help and choices are declared once, in
:mod:`continual.config`.

A generated flag's parser default is ``argparse.SUPPRESS``: only flags given on the command line
reach the parsed namespace, which is how they win over a YAML config file while an absent flag
leaves the file's value alone. ``--help`` still shows each field's default. See docs/design.md,
section Architecture.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, Union

from .config import field_types, flag_of


def _value_type(kind: Any) -> Any:
    """The argparse ``type`` of a field declared ``kind``: ``Optional[int]`` parses as ``int``."""
    if typing.get_origin(kind) is Union:
        members = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    if kind in (int, float, str):
        return kind
    raise TypeError(f"no command-line flag for a field of type {kind}: declare it with flag=None")


def add_config_flags(parser: Any, section: str, cls: type) -> None:
    """One flag on ``parser`` (a parser or an argument group) per field of ``cls`` that has one;
    its namespace name is ``section.field``. A field without help is a programming error."""
    types = field_types(cls)
    for f in dataclasses.fields(cls):
        flag = flag_of(cls, f.name)
        if flag is None:
            continue
        help_text = f.metadata.get("help")
        if not help_text:
            raise TypeError(f"{cls.__name__}.{f.name} has a flag but no help: declare it with option()")
        dest, kind, choices = f"{section}.{f.name}", types[f.name], f.metadata.get("choices")
        if kind is bool:  # an on/off flag: not giving it is its default
            parser.add_argument(flag, dest=dest, action="store_false" if f.default else "store_true",
                                default=argparse.SUPPRESS, help=_with_default(help_text, False))
            continue
        parser.add_argument(flag, dest=dest, type=_value_type(kind), choices=choices,
                            metavar=None if choices else f.name.upper(), default=argparse.SUPPRESS,
                            help=_with_default(help_text, f.default))


def _with_default(help_text: str, default: Any) -> str:
    return f"{help_text} (default: {default})".replace("%", "%%")


def given_flags(args: argparse.Namespace, section: str) -> dict[str, Any]:
    """The values of the generated flags of ``section`` that were given on the command line."""
    prefix = section + "."
    return {dest[len(prefix):]: value for dest, value in vars(args).items() if dest.startswith(prefix)}
