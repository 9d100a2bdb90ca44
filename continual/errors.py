"""Bad input: the one exception type the command-line programs turn into a one-line message and
exit code 2, the parser that reports its errors that way, and the wrapper that does it."""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional


class UserError(Exception):
    """Bad input from the user: the message names the problem and the fix."""


def quiet_library_warnings() -> None:
    """Hold back the libraries' warnings about their own internals, which a user cannot act on:
    Avalanche 0.6.0's deprecations (one per experience), EarlyStoppingPlugin's note that its first
    reading starts the record, and transformers' deprecation of ``is_gradient_checkpointing``,
    which peft reads when it wraps a model (every LoRA run). Every other warning is shown."""
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"avalanche\.")
    silence_avalanche_deprecations()
    warnings.filterwarnings("ignore", message="Metric .* used by the EarlyStopping plugin")
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)


def silence_avalanche_deprecations() -> None:
    """Drop Avalanche 0.6.0's warnings about its own deprecated internals (one per experience).

    A filter cannot hold them back: Avalanche's ``@deprecated`` decorator puts a "once" filter in
    front of the user's filters on every call. They are dropped where warnings are shown, and only
    those raised from Avalanche's own files; every other warning is shown as before.
    """
    import os
    import warnings

    shown = warnings.showwarning
    if getattr(shown, "drops_avalanche_deprecations", False):
        return
    marker = f"{os.sep}avalanche{os.sep}"

    def showwarning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DeprecationWarning) and marker in str(filename):
            return
        shown(message, category, filename, lineno, file, line)

    showwarning.drops_avalanche_deprecations = True
    warnings.showwarning = showwarning


def closest(name: str, names) -> str:
    """' (did you mean X?)' for the closest known name, or ''."""
    import difflib

    match = difflib.get_close_matches(str(name), [str(n) for n in names], n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help with each flag's true default where its text does not state one already, nothing
    for flags without a value (None, off, empty), and the epilog's examples as written."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        empty = default is None or default is False or default == [] or default == argparse.SUPPRESS
        if "default" in text or empty or action.option_strings == ["-h", "--help"]:
            return text
        return f"{text} (default: {default})"


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line (a :class:`UserError`), not a usage dump."""

    def error(self, message: str):
        raise UserError(f"{message} (see --help)")


def exit_code(main: Callable[[], int], *, on_interrupt: Optional[Callable[[BaseException], int]] = None) -> int:
    """Run a command's body: a :class:`UserError` prints ``error: ...`` and gives 2; Ctrl-C gives
    ``on_interrupt(stop)`` (default: ``interrupted``, 130). No traceback either way."""
    try:
        return main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        if on_interrupt is not None:
            return on_interrupt(stop)
        print("interrupted", file=sys.stderr)
        return 130
