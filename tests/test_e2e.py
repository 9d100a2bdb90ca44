"""End to end: the real CLI in a subprocess with the packaged MiniLM on a tiny stream."""
import json
import subprocess
import sys

import pytest


@pytest.mark.e2e
def test_cli_with_packaged_minilm(tmp_path):
    command = [sys.executable, "-m", "continual.run", "--strategy", "ewc", "--experiences", "3",
               "--train-per-class", "3", "--test-per-class", "2", "--out", str(tmp_path),
               "--no-cache", "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    run = tmp_path / "icd10cm-chapters" / "ewc" / "seed-0"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["strategy"] == "ewc" and metrics["scenario"] == "class"
    assert len(metrics["accuracy_matrix"]) == 3 and len(metrics["initial_accuracy"]) == 3
    assert metrics["trainable_parameters"] > 22_000_000  # the MiniLM encoder + head
    assert (run / "forgetting_curve.png").stat().st_size > 1000
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["model"]["model"] is None  # the packaged default
    assert "ewc" in done.stdout and "ACC" in done.stdout
