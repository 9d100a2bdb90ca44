"""Checkpoint and resume (docs/design.md, Checkpoints; torchtune's
``test_training_state_on_resume``): a run resumed from the checkpoint of any finished experience
ends with the same metrics.json and the same final training state (model, optimizer, every
plugin's state, buffers) as an uninterrupted one, for every registry strategy; real signals in a
subprocess stop a run cleanly; checkpoints are tensors and plain values, atomic, verified and
refused when corrupt or made by another configuration; two runs never share a folder."""
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from continual import ExperimentConfig, ModelConfig, StreamConfig, TrainingConfig, run_experiment
from continual.config import RunControl
from continual.run import main
from continual.state import checkpoint
from continual.state.run_folder import RESULT_FILES
from strategies import STRATEGIES

from conftest import SYNTHETIC_STREAMS, TINY_TRAINING, write_notes

REPO = Path(__file__).resolve().parents[1]
#: metrics.json fields measured, not computed: they differ between any two runs
TIMING = {"train_seconds", "eval_seconds", "peak_rss_mb"}
#: Files computed from the pooled confusion counts a checkpoint carries: a resumed run writes
#: them byte for byte as an uninterrupted one (the PNG is drawn from the same counts)
CLASS_FILES = ("per_class.csv", "confusion_matrix.csv")
SMALL = {"replay": {"mem_size": "12"}, "der": {"mem_size": "12"}, "gem": {"patterns_per_exp": "4"},
         "agem": {"patterns_per_exp": "4", "sample_size": "4"}, "icarl": {"mem_size": "12"}}


def config_for(name, model_dir, out, **control):
    return ExperimentConfig(
        strategy=name, seed=0, out=str(out),
        stream=StreamConfig(no_cache=True, max_length=16), model=ModelConfig(model=model_dir),
        training=TrainingConfig(device="cpu", **TINY_TRAINING),
        strategy_params={k: v for k, v in SMALL.items() if k in name.split("+")}, control=RunControl(**control),
    )


def without_timing(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in TIMING}


def run_keeping_every_checkpoint(config, stream, keep_in: Path):
    """An uninterrupted run that also copies each checkpoint it writes to ``keep_in/after-<k>.pt``:
    exactly what a run killed after experience k leaves behind."""
    real_save = checkpoint.save

    def spy(run_dir, payload):
        path = real_save(run_dir, payload)
        keep_in.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, keep_in / f"after-{payload['progress']['finished']}.pt")
        return path

    checkpoint.save = spy
    try:
        return run_experiment(config, stream=stream, progress=False)
    finally:
        checkpoint.save = real_save


def final_state_digests(run_dir) -> dict:
    state = checkpoint.load(run_dir)["state"]
    return {part: checkpoint.digest(value) for part, value in state.items()}


# Every registry strategy that trains through experiences (joint trains once: nothing to resume),
# on its first declared scenario, plus compositions and the other replay storage policies.
RESUME_CASES = [(name, spec.scenarios[0], {}) for name, spec in STRATEGIES.items() if name != "joint"]
RESUME_CASES += [("replay+ewc", "class", {}), ("replay+lwf", "class", {}), ("lwf", "task", {}),
                 ("der", "domain", {}), ("replay", "task", {"policy": "reservoir"}),
                 ("replay", "class", {"policy": "class-balanced"})]


@pytest.mark.parametrize("name, scenario, extra", RESUME_CASES,
                         ids=[f"{n}-{s}{'-' + '-'.join(e.values()) if e else ''}" for n, s, e in RESUME_CASES])
def test_resume_after_each_experience_reaches_the_same_end(name, scenario, extra, tiny_model_dir, tmp_path):
    config = config_for(name, tiny_model_dir, tmp_path / "whole", keep_checkpoint=True)
    if extra:
        config.strategy_params = {**config.strategy_params, name: {**SMALL.get(name, {}), **extra}}
    whole = run_keeping_every_checkpoint(config, SYNTHETIC_STREAMS[scenario](), tmp_path / "kept")
    expected_state = final_state_digests(whole.run_dir)
    for k in (1, 2):
        resumed_config = config_for(name, tiny_model_dir, tmp_path / f"resumed-{k}", resume=True, keep_checkpoint=True)
        resumed_config.strategy_params = config.strategy_params
        run_dir = whole.run_dir.relative_to(tmp_path / "whole")
        target = tmp_path / f"resumed-{k}" / run_dir / "checkpoint" / "state.pt"
        target.parent.mkdir(parents=True)
        shutil.copy(tmp_path / "kept" / f"after-{k}.pt", target)
        resumed = run_experiment(resumed_config, stream=SYNTHETIC_STREAMS[scenario](), progress=False)
        assert resumed.resumed_from == k
        assert without_timing(resumed.metrics) == without_timing(whole.metrics), f"after experience {k}"
        for file_name in CLASS_FILES:
            assert (resumed.run_dir / file_name).read_bytes() == (whole.run_dir / file_name).read_bytes(), file_name
        assert final_state_digests(resumed.run_dir) == expected_state, f"after experience {k}"
        facts = json.loads((resumed.run_dir / "config.json").read_text())["resume"]
        assert facts["resumed"] and facts["exact"] and facts["resumes"][0]["from_experience"] == k


def test_checkpoint_is_tensors_and_plain_values_and_deleted_at_the_end(tiny_model_dir, tmp_path):
    whole = run_keeping_every_checkpoint(config_for("replay+ewc", tiny_model_dir, tmp_path / "run"),
                                         SYNTHETIC_STREAMS["class"](), tmp_path / "kept")
    assert not (whole.run_dir / "checkpoint").exists()  # deleted when the run completed
    assert sorted(p.name for p in whole.run_dir.iterdir()) == sorted(RESULT_FILES)
    payload = torch.load(tmp_path / "kept" / "after-2.pt", weights_only=True)  # no pickled objects
    assert payload["meta"]["finished"] == 2 and payload["progress"]["finished"] == 2
    assert len(payload["progress"]["matrix"]) == 2
    # the pooled confusion counts of each step, which every F1 value is computed from
    assert len(payload["progress"]["confusion"]) == 2 and len(payload["progress"]["seen_classes"]) == 2
    assert all(isinstance(v, int) for step in payload["progress"]["confusion"] for row in step for v in row)
    kinds = [p["kind"] for p in payload["state"]["plugins"]]
    assert "replay" in kinds and "ewc" in kinds and "clock" in kinds
    assert oct((tmp_path / "kept" / "after-2.pt").stat().st_mode)[-3:] == "600"  # private: token ids
    config = json.loads((whole.run_dir / "config.json").read_text())
    assert config["resume"] == {"resumed": False, "resumes": [], "exact": True,
                                "checkpoints": "deleted at completion", "buffer_checkpoint": True}


def test_resume_after_the_last_experience_only_writes_results(tiny_model_dir, tmp_path):
    """Killed between the last checkpoint and metrics.json: resuming trains nothing."""
    whole = run_keeping_every_checkpoint(config_for("naive", tiny_model_dir, tmp_path / "whole"),
                                         SYNTHETIC_STREAMS["class"](), tmp_path / "kept")
    config = config_for("naive", tiny_model_dir, tmp_path / "resumed", resume=True)
    target = tmp_path / "resumed" / whole.run_dir.relative_to(tmp_path / "whole") / "checkpoint" / "state.pt"
    target.parent.mkdir(parents=True)
    shutil.copy(tmp_path / "kept" / "after-3.pt", target)
    resumed = run_experiment(config, stream=SYNTHETIC_STREAMS["class"](), progress=False)
    assert without_timing(resumed.metrics) == without_timing(whole.metrics)
    assert resumed.metrics["train_seconds"] == whole.metrics["train_seconds"]  # restored, not re-measured
    for file_name in CLASS_FILES:
        assert (resumed.run_dir / file_name).read_bytes() == (whole.run_dir / file_name).read_bytes(), file_name


def test_no_buffer_checkpoint_leaves_examples_out_and_says_so(tiny_model_dir, tmp_path, capsys):
    config = config_for("replay", tiny_model_dir, tmp_path / "run", buffer_checkpoint=False)
    whole = run_keeping_every_checkpoint(config, SYNTHETIC_STREAMS["class"](), tmp_path / "kept")
    assert "cannot resume them exactly" in capsys.readouterr().err
    payload = torch.load(tmp_path / "kept" / "after-2.pt", weights_only=True)
    storage = next(p for p in payload["state"]["plugins"] if p["kind"] == "replay")["storage"]
    assert storage["groups"] and all(group["data"] is None for _, group in storage["groups"])
    resumed_config = config_for("replay", tiny_model_dir, tmp_path / "resumed", resume=True, buffer_checkpoint=False)
    target = tmp_path / "resumed" / whole.run_dir.relative_to(tmp_path / "run") / "checkpoint" / "state.pt"
    target.parent.mkdir(parents=True)
    shutil.copy(tmp_path / "kept" / "after-1.pt", target)
    resumed = run_experiment(resumed_config, stream=SYNTHETIC_STREAMS["class"](), progress=False)
    assert "will not match an uninterrupted one" in capsys.readouterr().err
    facts = json.loads((resumed.run_dir / "config.json").read_text())["resume"]
    assert facts["exact"] is False and facts["resumes"][0]["buffers_left_out"] is True


def test_gem_refuses_to_resume_without_its_memories(tiny_model_dir, tmp_path):
    config = config_for("gem", tiny_model_dir, tmp_path / "run", buffer_checkpoint=False)
    whole = run_keeping_every_checkpoint(config, SYNTHETIC_STREAMS["class"](), tmp_path / "kept")
    resumed_config = config_for("gem", tiny_model_dir, tmp_path / "resumed", resume=True)
    target = tmp_path / "resumed" / whole.run_dir.relative_to(tmp_path / "run") / "checkpoint" / "state.pt"
    target.parent.mkdir(parents=True)
    shutil.copy(tmp_path / "kept" / "after-1.pt", target)
    with pytest.raises(checkpoint.CheckpointError, match="gem cannot resume .* --no-buffer-checkpoint"):
        run_experiment(resumed_config, stream=SYNTHETIC_STREAMS["class"](), progress=False)
    assert target.exists() and not (target.parents[1] / ".lock").exists()


# ------------------------------------------------------------------ the CLI, in-process

def cli_argv(csv_path, model_dir):
    """CLI arguments for a small CSV of the synthetic texts and the tiny BERT; replay's small
    memory comes from a config file beside the CSV (a --set for a strategy not run is refused)."""
    config = Path(csv_path).parent / "small-memory.yaml"
    config.write_text("strategies:\n  replay:\n    mem_size: 12\n")
    return ["--data", str(csv_path), "--text-col", "text", "--label-col", "label", "--scenario", "class",
            "--experiences", "3", "--train-per-class", "10", "--test-per-class", "6", "--model", model_dir,
            "--max-length", "16", "--batch-size", str(TINY_TRAINING["batch_size"]),
            "--epochs", str(TINY_TRAINING["epochs"]), "--lr", str(TINY_TRAINING["lr"]), "--device", "cpu",
            "--no-cache", "--no-progress", "--config", str(config)]


@pytest.fixture
def data_argv(tmp_path, tiny_model_dir):
    return cli_argv(write_notes(tmp_path / "notes.csv"), tiny_model_dir)


def interrupt_after(monkeypatch, k):
    """Make the run stop (as Ctrl-C would) right after its checkpoint of experience k."""
    real_save = checkpoint.save

    def save(run_dir, payload):
        path = real_save(run_dir, payload)
        if payload["progress"]["finished"] == k:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(checkpoint, "save", save)
    return real_save


def run_dir_of(out: Path, strategy="replay") -> Path:
    return out / "notes-class" / strategy / "seed-0"


def test_ctrl_c_prints_the_resume_command_and_resume_finishes(data_argv, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    argv = [*data_argv, "--strategy", "replay", "--out", str(out)]
    real_save = interrupt_after(monkeypatch, 1)
    assert main(argv) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("interrupted: resume with: python -m continual.run ") and err[-1].endswith("--resume")
    run = run_dir_of(out)
    assert (run / "checkpoint" / "state.pt").exists() and not (run / ".lock").exists()
    assert not (run / "metrics.json").exists()
    monkeypatch.setattr(checkpoint, "save", real_save)
    assert main(argv) == 2  # an interrupted run is not silently started over
    assert "add --resume to continue it" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 0
    assert "resuming" in capsys.readouterr().err
    assert json.loads((run / "config.json").read_text())["resume"]["resumes"][0]["from_experience"] == 1
    assert not (run / "checkpoint").exists()


def test_finished_run_is_not_redone_unless_overwrite(data_argv, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [*data_argv, "--strategy", "naive", "--out", str(out)]
    assert main(argv) == 0
    run = run_dir_of(out, "naive")
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    capsys.readouterr()
    assert main(argv) == 0
    assert "already done" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before
    assert main([*argv, "--lr", "0.02"]) == 2
    err = capsys.readouterr().err.strip()
    assert "another configuration" in err and "training.lr" in err and len(err.splitlines()) == 1
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before
    assert main([*argv, "--overwrite", "--lr", "0.02"]) == 0
    assert json.loads((run / "config.json").read_text())["config"]["training"]["lr"] == 0.02


def _on_device(node, device: str):
    """A checkpoint state as another device would have saved it: every device name replaced."""
    if isinstance(node, dict):
        return {k: (device if k == "device" and isinstance(v, str) else _on_device(v, device)) for k, v in node.items()}
    if isinstance(node, list):
        return [_on_device(v, device) for v in node]
    return node


@pytest.mark.parametrize("name", ["ewc", "online-ewc", "mas", "si", "lwf", "replay"])
def test_a_checkpoint_made_on_another_device_resumes_here(name, tiny_model_dir, tmp_path, capsys):
    """A run checkpointed on a GPU continues on this CPU: the saved device names are not used,
    every restored tensor goes to the run's device, and the results equal an uninterrupted run
    (here both devices compute alike, so exactly; across real devices within float tolerance)."""
    config = config_for(name, tiny_model_dir, tmp_path / "whole", keep_checkpoint=True)
    whole = run_keeping_every_checkpoint(config, SYNTHETIC_STREAMS["class"](), tmp_path / "kept")
    resumed_config = config_for(name, tiny_model_dir, tmp_path / "resumed", resume=True, keep_checkpoint=True)
    run_dir = tmp_path / "resumed" / whole.run_dir.relative_to(tmp_path / "whole")
    (run_dir / "checkpoint").mkdir(parents=True)
    payload = torch.load(tmp_path / "kept" / "after-1.pt", map_location="cpu", weights_only=True)
    payload.pop("digest")
    payload["meta"]["device"] = "cuda:0"
    payload["state"] = _on_device(payload["state"], "cuda:0")
    checkpoint.save(run_dir, payload)
    capsys.readouterr()
    resumed = run_experiment(resumed_config, stream=SYNTHETIC_STREAMS["class"](), progress=False)
    assert "made on cuda:0 and the run continues on cpu" in capsys.readouterr().err
    assert resumed.resumed_from == 1
    assert without_timing(resumed.metrics) == without_timing(whole.metrics)
    facts = json.loads((resumed.run_dir / "config.json").read_text())["resume"]
    assert facts["resumes"][0]["device"] == "cuda:0 -> cpu" and not facts["exact"]


@pytest.fixture
def interrupted_run(data_argv, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    argv = [*data_argv, "--strategy", "replay", "--out", str(out)]
    real_save = interrupt_after(monkeypatch, 1)
    assert main(argv) == 130
    monkeypatch.setattr(checkpoint, "save", real_save)
    capsys.readouterr()
    return argv, run_dir_of(out)


def refused(argv, capsys, needle):
    assert main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_flipped_byte_in_checkpoint_is_refused(interrupted_run, capsys):
    argv, run = interrupted_run
    path = run / "checkpoint" / "state.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside tensor data: torch.load alone would not notice
    path.write_bytes(bytes(data))
    refused(argv, capsys, "is corrupt")
    assert path.read_bytes() == bytes(data)  # left for the user to inspect


def test_truncated_checkpoint_is_refused(interrupted_run, capsys):
    argv, run = interrupted_run
    path = run / "checkpoint" / "state.pt"
    path.write_bytes(path.read_bytes()[:1000])
    refused(argv, capsys, "is corrupt or unreadable")


def test_foreign_file_in_checkpoint_folder_is_refused(interrupted_run, capsys):
    argv, run = interrupted_run
    torch.save({"model": torch.zeros(2)}, run / "checkpoint" / "state.pt")
    refused(argv, capsys, "is not a checkpoint of this program")


def test_checkpoint_of_another_configuration_is_refused(interrupted_run, capsys):
    argv, run = interrupted_run
    err = refused([*argv, "--set", "replay.mem_size=13"], capsys, "another configuration")
    assert "mem_size 12 -> 13" in err


def test_checkpoint_of_other_versions_is_refused(interrupted_run, capsys):
    argv, run = interrupted_run
    payload = checkpoint.load(run)
    payload["meta"]["versions"]["torch"] = "1.0.0"
    checkpoint.save(run, payload)
    refused(argv, capsys, "other package versions (torch 1.0.0 -> ")


def test_leftover_temporary_files_are_removed(interrupted_run, capsys):
    """A kill during a write leaves only a hidden temporary file: the next run removes it."""
    argv, run = interrupted_run
    leftover = run / "checkpoint" / ".state.pt.abc123.tmp"
    leftover.write_bytes(b"half a checkpoint")
    (run / ".metrics.json.xyz.tmp").write_text("{")
    assert main([*argv, "--resume"]) == 0
    assert not leftover.exists() and not (run / ".metrics.json.xyz.tmp").exists()


def test_resume_with_nothing_to_resume_starts_fresh(data_argv, tmp_path, capsys):
    argv = [*data_argv, "--strategy", "naive", "--out", str(tmp_path / "out"), "--resume"]
    assert main(argv) == 0
    assert "nothing to resume" in capsys.readouterr().err


def test_keep_checkpoint_keeps_it_and_without_it_it_is_deleted(data_argv, tmp_path):
    """With --keep-checkpoint the completed run's checkpoint stays, holds the final state of
    every experience and loads with ``torch.load(weights_only=True)`` (tensors and plain values
    only); without the flag the same run leaves no checkpoint folder."""
    kept, plain = tmp_path / "kept", tmp_path / "plain"
    assert main([*data_argv, "--strategy", "replay", "--out", str(kept), "--keep-checkpoint"]) == 0
    assert main([*data_argv, "--strategy", "replay", "--out", str(plain)]) == 0
    files = sorted(p.name for p in (run_dir_of(kept) / "checkpoint").iterdir())
    assert files == ["state.pt"]
    payload = torch.load(run_dir_of(kept) / "checkpoint" / "state.pt", weights_only=True)
    assert payload["progress"]["finished"] == 3 and len(payload["progress"]["matrix"]) == 3
    assert payload["progress"]["matrix"] == json.loads((run_dir_of(kept) / "metrics.json").read_text())["accuracy_matrix"]
    assert any(p["kind"] == "replay" for p in payload["state"]["plugins"])
    assert checkpoint.load(run_dir_of(kept))["progress"]["finished"] == 3  # verified by the program too
    assert not (run_dir_of(plain) / "checkpoint").exists()
    assert sorted(p.name for p in run_dir_of(plain).iterdir()) == sorted(
        p.name for p in run_dir_of(kept).iterdir() if p.name != "checkpoint")


# ------------------------------------------------------------------ real signals, subprocesses

@pytest.fixture(scope="module")
def slow_run(tmp_path_factory, tiny_model_dir):
    """The small replay run, slowed down (4 epochs of batches of 2) so that a signal lands in
    the middle of an experience, and its metrics when nothing stops it. With 2 epochs an
    experience of the tiny model took well under a second on an idle machine and the run could
    end before the signal arrived."""
    folder = tmp_path_factory.mktemp("signals")
    argv = cli_argv(write_notes(folder / "notes.csv"), tiny_model_dir)
    argv[argv.index("--epochs") + 1] = "4"
    argv[argv.index("--batch-size") + 1] = "2"
    argv += ["--strategy", "replay"]
    assert main([*argv, "--out", str(folder / "whole")]) == 0
    return argv, json.loads((run_dir_of(folder / "whole") / "metrics.json").read_text())


def start(argv):
    # A shell starts background jobs (CI under nohup or `&`) with SIGINT ignored, and Python keeps
    # an ignored SIGINT ignored: give the run the default disposition, as in a terminal.
    return subprocess.Popen([sys.executable, "-m", "continual.run", *argv], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(predicate, process, timeout=240.0):
    """Poll until ``predicate()`` holds while ``process`` runs; fail if it ends or time runs out."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(f"the run ended early: {process.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("timed out waiting for the run")
        time.sleep(0.02)


def poll_until(predicate, timeout=30.0, what="the expected state"):
    """Poll until ``predicate()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def lock_held_by(run: Path, process) -> bool:
    lock = run / ".lock"
    try:
        return lock.read_text().strip() == str(process.pid)
    except OSError:
        return False


def finished_experiences(run: Path) -> int:
    try:
        return checkpoint.load(run)["progress"]["finished"]
    except Exception:
        return 0


@pytest.mark.parametrize("signum, after, code", [
    (signal.SIGKILL, 0, -signal.SIGKILL),  # before the first checkpoint: resume starts over
    (signal.SIGINT, 1, 130),
    (signal.SIGTERM, 1, 143),
    (signal.SIGKILL, 2, -signal.SIGKILL),
], ids=["sigkill-first-experience", "sigint-second", "sigterm-second", "sigkill-third"])
def test_real_signal_then_resume_matches_an_uninterrupted_run(signum, after, code, slow_run, tmp_path):
    argv, expected = slow_run
    out = tmp_path / "stopped"
    run = run_dir_of(out)
    process = start([*argv, "--out", str(out)])
    if after == 0:
        wait_for(lambda: lock_held_by(run, process), process)  # the run has its folder, no checkpoint yet
    else:
        wait_for(lambda: finished_experiences(run) >= after, process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code, err[-2000:]
    if signum != signal.SIGKILL:
        assert err.strip().splitlines()[-1].startswith("interrupted: resume with: python -m continual.run")
        assert "Traceback" not in err
        assert not (run / ".lock").exists()
    assert not (run / "metrics.json").exists()
    assert main([*argv, "--out", str(out), "--resume"]) == 0  # a SIGKILL leaves the lock file, not the lock
    got = json.loads((run / "metrics.json").read_text())
    assert without_timing(got) == without_timing(expected)
    assert not (run / "checkpoint").exists() and not (run / ".lock").exists()


def test_second_run_into_the_same_folder_is_refused(slow_run, tmp_path, capsys):
    argv, expected = slow_run
    argv = [*argv, "--out", str(tmp_path / "out")]
    run = run_dir_of(tmp_path / "out")
    process = start(argv)
    wait_for(lambda: lock_held_by(run, process), process)
    for extra in ([], ["--resume"], ["--overwrite"]):
        assert main([*argv, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert "another run is writing to" in err and f"(process {process.pid})" in err
        assert len(err.splitlines()) == 1
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-2000:]
    assert set(p.name for p in run.iterdir()) == set(RESULT_FILES)
    assert without_timing(json.loads((run / "metrics.json").read_text())) == without_timing(expected)
