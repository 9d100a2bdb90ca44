"""The one exception type that the CLI turns into a one-line message and exit code 2."""


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
