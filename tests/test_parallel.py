"""``--jobs N``: several runs at once in worker processes, same results, clean stops."""
import json
import signal

import psutil
import pytest
import torch

from continual.engine.parallel import threads_per_job
from continual.run import main
from test_resume import cli_argv, lock_held_by, poll_until, run_dir_of, start, wait_for, without_timing
from conftest import write_notes


def test_threads_are_shared_out_never_below_one():
    assert threads_per_job(2, available=2) == 1
    assert threads_per_job(2, available=8) == 4
    assert threads_per_job(3, available=8) == 2
    assert threads_per_job(4, available=2) == 1


def test_jobs_below_one_is_refused_in_one_line(tmp_path, tiny_model_dir, capsys):
    argv = cli_argv(write_notes(tmp_path / "notes.csv"), tiny_model_dir)
    assert main([*argv, "--strategy", "naive,ewc", "--jobs", "0", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --jobs must be at least 1, got 0"
    assert not (tmp_path / "out").exists()


@pytest.fixture
def threads_kept():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_jobs_give_the_results_of_the_same_runs_one_after_another(tmp_path, tiny_model_dir, capsys, threads_kept):
    """Three runs on two workers: each run's metrics.json equals the one-after-another run's at
    the same thread count, the summary lists every run in the order asked, and config.json
    records the thread count the run had."""
    argv = [*cli_argv(write_notes(tmp_path / "notes.csv"), tiny_model_dir), "--strategy", "naive,ewc,replay"]
    torch.set_num_threads(2)  # two workers: one thread each
    assert main([*argv, "--jobs", "2", "--out", str(tmp_path / "parallel")]) == 0
    out, err = capsys.readouterr()
    assert "3 runs, 2 at a time, 1 torch thread(s) each" in err
    assert err.count("   wrote ") == 3 and "Traceback" not in err
    rows = [line.split()[0] for line in out.strip().splitlines()[2:]]
    assert rows == ["naive", "ewc", "replay"]
    torch.set_num_threads(1)
    assert main([*argv, "--out", str(tmp_path / "sequential")]) == 0
    for name in ("naive", "ewc", "replay"):
        parallel, sequential = (run_dir_of(tmp_path / kind, name) for kind in ("parallel", "sequential"))
        got, expected = (json.loads((d / "metrics.json").read_text()) for d in (parallel, sequential))
        assert without_timing(got) == without_timing(expected), name
        assert json.loads((parallel / "config.json").read_text())["torch_threads"] == 1
        assert sorted(p.name for p in parallel.iterdir()) == sorted(p.name for p in sequential.iterdir())


def test_a_run_refused_at_its_start_stops_the_dispatch_and_exits_2(tmp_path, tiny_model_dir, capsys):
    """multihead needs a task scenario: its worker reports the error in one line; naive, already
    going beside it, finishes and is written; ewc, not yet started, is not run."""
    argv = [*cli_argv(write_notes(tmp_path / "notes.csv"), tiny_model_dir), "--strategy", "multihead,naive,ewc",
            "--jobs", "2", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.strip().splitlines()[-1].startswith("error: strategy 'multihead' does not support the class-incremental")
    assert "Traceback" not in err
    assert (run_dir_of(tmp_path / "out", "naive") / "metrics.json").exists()
    assert not run_dir_of(tmp_path / "out", "ewc").exists()
    assert [line.split()[0] for line in out.strip().splitlines()[2:]] == ["naive"]


def live(workers) -> list:
    return [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]


def _workers(process) -> list:
    """The run's worker processes (not multiprocessing's resource tracker)."""
    return [child for child in psutil.Process(process.pid).children()
            if "spawn_main" in " ".join(child.cmdline())]


def test_sigterm_stops_every_worker_and_resume_finishes_the_runs(tmp_path, tiny_model_dir):
    """A SIGTERM to the parent reaches both workers; each keeps its finished experiences in its
    checkpoint, no worker outlives the parent, no lock is left, and ``--resume`` (here one run
    after another, at the workers' thread count) ends with the same metrics as an uninterrupted
    run."""
    argv = cli_argv(write_notes(tmp_path / "notes.csv"), tiny_model_dir)
    argv[argv.index("--epochs") + 1] = "4"
    argv[argv.index("--batch-size") + 1] = "2"  # slow enough for the signal to land mid-run
    argv += ["--strategy", "replay,naive"]
    out = tmp_path / "stopped"
    process = start([*argv, "--jobs", "2", "--out", str(out)])
    runs = [run_dir_of(out, name) for name in ("replay", "naive")]
    wait_for(lambda: all((run / "checkpoint" / "state.pt").exists() for run in runs), process)
    workers = _workers(process)
    assert len(workers) >= 2
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 143, err[-2000:]
    assert err.strip().splitlines()[-1].startswith("interrupted: resume with: python -m continual.run")
    assert "Traceback" not in err
    poll_until(lambda: not live(workers), timeout=10.0, what="the workers to end with the parent")
    for run in runs:
        assert not (run / ".lock").exists() and not (run / "metrics.json").exists()
        assert (run / "checkpoint" / "state.pt").exists()
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' count, so the resumed runs can match
    try:
        assert main([*argv, "--out", str(out), "--resume"]) == 0
        assert main([*argv, "--out", str(tmp_path / "whole")]) == 0
    finally:
        torch.set_num_threads(before)
    for name in ("replay", "naive"):
        got, expected = (json.loads((run_dir_of(folder, name) / "metrics.json").read_text())
                         for folder in (out, tmp_path / "whole"))
        assert without_timing(got) == without_timing(expected), name


def workers_holding(process, runs, found: list) -> list:
    """The workers whose process id is in a run's lock (the lock is held), kept in ``found``."""
    found[:] = [w for w in _workers(process) if any(lock_held_by(run, w) for run in runs)]
    return found


def test_a_worker_that_dies_is_reported_in_one_line_with_exit_1(tmp_path, tiny_model_dir):
    """A worker killed from outside (as the OOM killer would) ends the command with exit 1 and a
    line saying which run it was and that --resume continues it; the other worker is not left
    behind."""
    argv = cli_argv(write_notes(tmp_path / "notes.csv"), tiny_model_dir)
    argv[argv.index("--epochs") + 1] = "4"
    argv[argv.index("--batch-size") + 1] = "2"
    argv += ["--strategy", "replay,naive", "--jobs", "2", "--out", str(tmp_path / "out")]
    process = start(argv)
    runs = [run_dir_of(tmp_path / "out", name) for name in ("replay", "naive")]
    workers = []
    wait_for(lambda: len(workers_holding(process, runs, workers)) == 2, process)
    victim = next(w for w in workers if w.pid == int((runs[0] / ".lock").read_text().strip()))
    victim.kill()
    _, err = process.communicate(timeout=300)
    assert process.returncode == 1, err[-2000:]
    # a worker killed while it holds a semaphore makes multiprocessing's resource tracker warn at
    # shutdown, after the command's own last line; that warning is the kill's, not the suite's
    ours = [line for line in err.strip().splitlines() if "resource_tracker" not in line]
    last = ours[-1]
    assert "the worker running replay on notes-class, seed 0 died" in last and "--resume" in last
    assert "Traceback" not in err
    poll_until(lambda: not live(workers), timeout=10.0, what="the other worker to end")
