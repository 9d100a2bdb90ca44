"""Around the runs of one run command: the checks that refuse bad runs before any starts, where
libraries put their side files, and what a stopped command prints so the user can resume.
See docs/design.md, sections Checkpoints and Reproducibility."""
from __future__ import annotations

import sys
from typing import Optional, Sequence

from ..config import ExperimentConfig
from ..errors import UserError


def preflight(configs: list[ExperimentConfig]) -> str:
    """Everything that can be refused before a run starts: the output folder, the model folder,
    the device, the stream, every strategy against the stream's scenario, and each run folder (another run busy in it, another configuration
    in it, an interrupted run without --resume, a checkpoint that is corrupt or was made by
    another configuration or versions). Nothing is written. Returns the stream's name."""
    from ..config import check_model, run_identity
    from ..state import checkpoint
    from ..state.files import check_writable
    from ..state.run_folder import FolderState, RunLock, package_versions, run_dir_for
    from strategies import parse_strategy

    from .assemble import check_scenario, hyperparameters, load_stream, resolve_device

    first = configs[0]
    check_writable(first.out)
    check_model(first.model.model)
    device = resolve_device(first.training.device)
    stream = load_stream(first)  # a bad stream setting fails now, before any run starts
    for config in configs:  # every strategy against the scenario before the first run starts
        check_scenario(parse_strategy(config.strategy)[1], stream)
    for config in configs:
        run_dir = run_dir_for(config.out, stream.name, config.strategy, config.seed, config.order)
        holder = RunLock.holder(run_dir)
        if holder:
            raise UserError(f"another run is writing to {run_dir} (process {holder}): wait for it to finish, "
                            "or give this one another --out")
        identity = run_identity(config.to_dict(), hyperparameters(config))
        if FolderState.read(run_dir).decide(identity, config.control) == "resume":
            meta = checkpoint.load(run_dir)["meta"]
            expected = {"identity": identity, "versions": package_versions(), "device": str(device),
                        "data_fingerprint": meta.get("data_fingerprint")}  # the data: checked by the run
            checkpoint.check_meta(meta, expected, checkpoint.checkpoint_path(run_dir))
    return stream.name


def confine_library_files(cache_dir: Optional[str]) -> None:
    """Send the side files of libraries (matplotlib's font list, torch inductor's folder) to the
    cache folder instead of ~/.cache, ~/.config and the temporary folder, so a run writes only
    in its output and cache folders. Values the user set are kept. (Avalanche still creates
    ~/.avalanche/config.json on import: a default dataset location, no run data.)"""
    import os
    from pathlib import Path

    if cache_dir:
        base = Path(cache_dir).expanduser()
    else:  # the default of streams.tokenization.default_cache_dir, without importing torch
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "continual-medical"
    os.environ.setdefault("MPLCONFIGDIR", str(base / "matplotlib"))
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(base / "torchinductor"))


def resume_command(argv: Sequence[str], program: str = "continual.run") -> str:
    """The command line that continues the runs of ``argv`` (the same program and flags plus
    --resume)."""
    import shlex

    return f"python -m {program} " + shlex.join([*(a for a in argv if a != "--resume"), "--resume"])


def stopped(stop: KeyboardInterrupt, argv: Sequence[str], program: str = "continual.run") -> int:
    """Exit code of a command stopped by Ctrl-C (130) or SIGTERM (143), after printing the
    command that resumes it: finished experiences are checkpointed, so nothing is lost."""
    from ..state.signals import Terminated

    print(f"interrupted: resume with: {resume_command(argv, program)}", file=sys.stderr)
    return 143 if isinstance(stop, Terminated) else 130


def program_main(command, argv, program: str = "continual.run") -> int:
    """A program's ``main``: quiet library warnings, SIGTERM stops like Ctrl-C, bad input is one
    line and exit 2, an interruption says how to continue (:func:`stopped`)."""
    import sys

    from ..errors import exit_code, quiet_library_warnings
    from ..state.signals import sigterm_stops

    quiet_library_warnings()
    argv = list(sys.argv[1:] if argv is None else argv)
    with sigterm_stops():
        return exit_code(lambda: command(argv), on_interrupt=lambda stop: stopped(stop, argv, program))
