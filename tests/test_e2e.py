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
    # class-incremental with the growing head: FWT is null and notes say why
    assert metrics["fwt"] is None and len(metrics["notes"]) == 1 and metrics["score"] == "accuracy"
    per_class = (run / "per_class.csv").read_text().splitlines()
    assert per_class[0] == "after_experience,class_id,class_name,precision,recall,f1,support"
    assert len(metrics["macro_f1_by_step"]) == 3 and metrics["macro_f1"] == metrics["macro_f1_by_step"][-1]
    assert (run / "confusion_matrix.csv").is_file() and (run / "confusion_matrix.png").stat().st_size > 1000
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["model"]["model"] is None  # the packaged default
    assert "ewc" in done.stdout and "ACC" in done.stdout
