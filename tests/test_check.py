"""``python -m continual.check`` (docs/design.md, Results): a run folder that a tiny run writes
passes the results contract; each kind of breach in a copy of it is reported in one line and
fails the check; a path that is not a folder is bad input."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from continual.check import main as check
from continual.run import main as run

from conftest import TINY_TRAINING, write_notes

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model_dir):
    folder = tmp_path_factory.mktemp("check")
    argv = ["--data", str(write_notes(folder / "notes.csv")), "--text-col", "text", "--label-col", "label",
            "--scenario", "class", "--experiences", "3", "--model", tiny_model_dir, "--max-length", "16",
            "--batch-size", str(TINY_TRAINING["batch_size"]), "--epochs", str(TINY_TRAINING["epochs"]),
            "--lr", str(TINY_TRAINING["lr"]), "--device", "cpu", "--no-cache", "--no-progress",
            "--strategy", "naive", "--out", str(folder / "out")]
    assert run(argv) == 0
    return folder / "out" / "notes-class" / "naive" / "seed-0"


def test_a_real_run_folder_passes(run_dir, capsys):
    assert {"per_class.csv", "confusion_matrix.csv", "confusion_matrix.png"} <= {p.name for p in run_dir.iterdir()}
    assert check([str(run_dir)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(f"ok {run_dir}: naive seed 0 ACC=")


def test_as_a_command(run_dir):
    done = subprocess.run([sys.executable, "-m", "continual.check", str(run_dir)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def edit_json(name, change):
    def corrupt(folder: Path):
        data = json.loads((folder / name).read_text())
        change(data)
        (folder / name).write_text(json.dumps(data))
    return corrupt


def edit_csv(name, change):
    def corrupt(folder: Path):
        lines = (folder / name).read_text().splitlines()
        change(lines)
        (folder / name).write_text("\n".join(lines) + "\n")
    return corrupt


def halve_last_cell(line_index):
    def change(lines):
        cells = lines[line_index].split(",")
        cells[-2] = repr(float(cells[-2]) / 2 + 0.01)  # per_class.csv: the f1 column
        lines[line_index] = ",".join(cells)
    return change


def add_one_to_first_count(lines):
    cells = lines[1].split(",")
    cells[1] = str(int(cells[1]) + 1)
    lines[1] = ",".join(cells)


def replace_in_csv(folder: Path):
    lines = (folder / "accuracy_matrix.csv").read_text().splitlines()
    cells = lines[1].split(",")
    cells[1] = repr(float(cells[1]) / 2 + 0.01)
    lines[1] = ",".join(cells)
    (folder / "accuracy_matrix.csv").write_text("\n".join(lines) + "\n")


CORRUPTIONS = {
    "metric off the matrix": (edit_json("metrics.json", lambda m: m.update(average_accuracy=m["average_accuracy"] + 0.1)),
                              "average_accuracy="),
    "per-experience value off": (edit_json("metrics.json", lambda m: m["per_experience"]["bwt"].reverse() or
                                           m["per_experience"]["bwt"].__setitem__(0, 0.5)), "per_experience.bwt="),
    "missing key": (edit_json("metrics.json", lambda m: m.pop("trainable_parameters")), "lacks trainable_parameters"),
    "matrix not square": (edit_json("metrics.json", lambda m: m["accuracy_matrix"].pop()), "is not 3x3"),
    "accuracy above one": (edit_json("metrics.json", lambda m: m["accuracy_matrix"][0].__setitem__(1, 1.5)),
                           "outside [0, 1]"),
    "csv differs": (replace_in_csv, "accuracy_matrix.csv differs"),
    "missing plot": (lambda f: (f / "forgetting_curve.png").unlink(), "missing or empty forgetting_curve.png"),
    "text in config": (edit_json("config.json", lambda c: c.update(train_texts=["a note"])), "holds input text"),
    "stray file": (lambda f: (f / "texts.txt").write_text("a note"), "unexpected file texts.txt"),
    "domain fwt null without reason": (edit_json("metrics.json", lambda m: m.update(scenario="domain", notes=[])),
                                       "fwt is null in a domain-incremental run"),
    "fwt null without reason": (edit_json("metrics.json", lambda m: m.update(notes=[])),
                                "fwt is null without a reason in notes"),
    "missing notes": (edit_json("metrics.json", lambda m: m.pop("notes")), "lacks notes"),
    "unknown score": (edit_json("metrics.json", lambda m: m.update(score="loss")), "score is 'loss'"),
    "macro_f1 not the last step": (edit_json("metrics.json", lambda m: m.update(macro_f1=m["macro_f1"] / 2 + 0.01)),
                                   "macro_f1="),
    "per-class f1 off": (edit_csv("per_class.csv", halve_last_cell(-1)), "does not average to macro_f1_by_step[2]"),
    "per-class header": (edit_csv("per_class.csv", lambda lines: lines.__setitem__(0, lines[0].replace("f1", "F1"))),
                         "per_class.csv's header"),
    "missing confusion matrix": (lambda f: (f / "confusion_matrix.csv").unlink(),
                                 "missing or empty confusion_matrix.csv"),
    "confusion counts off": (edit_csv("confusion_matrix.csv", add_one_to_first_count), "confusion_matrix.csv's rows do not sum"),
    "stored bytes short": (edit_json("metrics.json", lambda m: m["stored_bytes"].pop()), "stored_bytes is not 3 byte counts"),
    "stored bytes negative": (edit_json("metrics.json", lambda m: m["stored_bytes"].__setitem__(0, -1)),
                              "stored_bytes is not 3 byte counts"),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_a_corrupted_folder_fails_with_one_line_per_problem(kind, run_dir, tmp_path, capsys):
    corrupt, needle = CORRUPTIONS[kind]
    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    corrupt(broken)
    assert check([str(run_dir), str(broken)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"ok {run_dir}")
    problems = lines[1:]
    assert problems and all(line.startswith(f"{broken}: ") for line in problems)
    assert any(needle in line for line in problems), problems


def test_a_path_that_is_not_a_folder_is_bad_input(tmp_path, capsys):
    assert check([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "is not a folder" in err and len(err.splitlines()) == 1
    assert check([]) == 2


def test_the_stored_reference_runs_pass(capsys):
    runs = sorted(str(p.parent) for p in (REPO / "results" / "reference").glob("**/seed-*/metrics.json"))
    assert runs and check(runs) == 0
