"""Bad input and privacy: every bad input gets one line naming the problem and the
fix, exit code 2, no traceback, and leaves earlier results as they were; --help documents every
flag; a run writes no input text anywhere and nothing outside its output and cache folders."""
import argparse
import csv
import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from continual.run import build_parser, main

from conftest import synthetic_records

REPO = Path(__file__).resolve().parents[1]


def write_csv(path: Path, per_class: int = 14) -> list[str]:
    records = synthetic_records(per_class=per_class)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(records.texts, [records.class_names[y] for y in records.labels]))
    return records.texts


def data_argv(csv_path, model_dir):
    return ["--data", str(csv_path), "--text-col", "text", "--label-col", "label", "--scenario", "class",
            "--experiences", "3", "--train-per-class", "10", "--test-per-class", "4", "--model", model_dir,
            "--max-length", "16", "--batch-size", "8", "--epochs", "1", "--device", "cpu", "--no-cache",
            "--no-progress"]


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_model_dir):
    """An output folder holding a finished run, and the arguments that made it."""
    folder = tmp_path_factory.mktemp("robust")
    csv_path = folder / "notes.csv"
    write_csv(csv_path)
    out = folder / "out"
    argv = [*data_argv(csv_path, tiny_model_dir), "--strategy", "naive", "--out", str(out)]
    assert main(argv) == 0
    return argv, out, folder


def swap(argv, flag, value):
    argv = list(argv)
    argv[argv.index(flag) + 1] = value
    return argv


def bad_inputs(argv, folder):
    """(name, argv, words the message must hold) for each kind of bad input."""
    gpt2 = folder / "gpt2-model"
    gpt2.mkdir(exist_ok=True)
    (gpt2 / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_embd": 32}))
    empty = folder / "empty-model"
    empty.mkdir(exist_ok=True)
    a_file = folder / "a-file"
    a_file.write_text("not a folder")
    bad_yaml = folder / "bad.yaml"
    bad_yaml.write_text("training: [unclosed\n")
    model_dir = argv[argv.index("--model") + 1]
    misspelt_model = model_dir.rstrip("/") + "x"
    return [
        ("unknown strategy", swap(argv, "--strategy", "replya"), ["unknown strategy", "did you mean 'replay'"]),
        ("unknown stream", ["--stream", "icd10-chapters", "--strategy", "naive", "--out", argv[argv.index("--out") + 1]],
         ["unknown stream", "did you mean 'icd10cm-chapters'"]),
        ("unknown model folder", swap(argv, "--model", misspelt_model), ["no such folder", "did you mean"]),
        ("not an encoder", swap(argv, "--model", str(gpt2)), ["gpt2", "not a BERT-family encoder"]),
        ("model folder without config", swap(argv, "--model", str(empty)), ["has no config.json"]),
        ("bad --set key", [*argv, "--set", "training.epoch=2"], ["no field 'epoch'", "did you mean 'epochs'"]),
        ("bad --set hyperparameter", [*argv, "--set", "naive.lr=2"], ["'naive' has no hyperparameter 'lr'"]),
        ("bad --set value type", [*argv, "--set", "training.epochs=two"], ["--set training.epochs expects an integer", "'two'"]),
        ("bad --set strategy value", [*argv, "--set", "ewc.lambda=big"], ["expects a float"]),
        ("zero epochs", swap(argv, "--epochs", "0"), ["--epochs must be positive"]),
        ("negative size", swap(argv, "--train-per-class", "-3"), ["--train-per-class must be positive"]),
        ("zero batch", swap(argv, "--batch-size", "0"), ["--batch-size must be positive"]),
        ("non-numeric size", swap(argv, "--test-per-class", "many"), ["invalid int value"]),
        ("more experiences than classes", swap(argv, "--experiences", "7"), ["6 classes into 7 experiences"]),
        ("missing config file", [*argv, "--config", str(folder / "none.yaml")], ["cannot read config file"]),
        ("unparsable config file", [*argv, "--config", str(bad_yaml)], ["not valid YAML"]),
        ("output is a file", swap(argv, "--out", str(a_file)), ["is a file, not a folder", "--out"]),
        ("output under a file", swap(argv, "--out", str(a_file / "sub")), ["is a file, not a folder"]),
        ("missing data", swap(argv, "--data", str(folder / "none.csv")), ["not found"]),
        ("resume and overwrite", [*argv, "--resume", "--overwrite"], ["contradict"]),
        ("finished run of another configuration", [*argv, "--lr", "0.5"], ["another configuration", "training.lr"]),
    ]


def test_every_bad_input_is_one_line_exit_2_and_leaves_results_intact(finished, capsys):
    argv, out, folder = finished
    cases = bad_inputs(argv, folder)
    before = snapshot(folder)
    assert any(name.startswith("out/") and name.endswith("metrics.json") for name in before)
    for name, bad, needles in cases:
        code = main(bad)
        err = capsys.readouterr().err.strip()
        assert code == 2, (name, err)
        assert len(err.splitlines()) == 1 and err.startswith("error: "), (name, err)
        assert "Traceback" not in err
        for needle in needles:
            assert needle in err, (name, err)
        assert snapshot(folder) == before, name  # nothing written, nothing lost


def test_cuda_requested_without_cuda_is_refused_before_writing(finished, capsys, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    argv, _, _ = finished
    out = tmp_path / "fresh"
    assert main(swap(swap(argv, "--device", "cuda"), "--out", str(out))) == 2
    err = capsys.readouterr().err.strip()
    assert "no CUDA device" in err and "--device cpu" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_bad_row_is_named_by_number_not_text(tmp_path, tiny_model_dir, capsys):
    secret = "patient john doe wheeze inhaler"
    path = tmp_path / "rows.jsonl"
    rows = [{"text": f"note {i} glucose", "label": "diabetes" if i % 2 else "asthma"} for i in range(20)]
    rows.append({"text": secret, "label": {"nested": "object"}})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    code = main(["--data", str(path), "--text-col", "text", "--label-col", "label", "--scenario", "class",
                 "--model", tiny_model_dir, "--out", str(tmp_path / "out"), "--no-cache"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "row" in err and secret not in err and "john" not in err


def test_help_lists_every_flag_with_meaning_and_default(capsys):
    parser = build_parser()
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    shown = capsys.readouterr().out
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert {"--resume", "--overwrite", "--keep-checkpoint", "--no-buffer-checkpoint", "--deterministic"} <= {
        o for a in options for o in a.option_strings}
    formatter = parser._get_formatter()
    for action in options:
        assert action.help and len(action.help) > 10, action.option_strings
        assert all(option in shown for option in action.option_strings)
        shown_help = formatter._expand_help(action)  # as --help shows it
        # no value to state, or its text says what happens without it; the generated flags' own
        # defaults are checked field by field in test_cli.py
        nothing_to_state = action.default is None or action.default is False or action.default == [] \
            or action.default == argparse.SUPPRESS or "default" in action.help
        assert "(default: " in shown_help or nothing_to_state, action.option_strings
        assert "(default: None)" not in shown_help and "(default: False)" not in shown_help, action.option_strings


def write_secret_notes(path: Path) -> list[str]:
    """The synthetic notes, each carrying a made-up record number that cannot occur by chance
    in anything the run writes (no word of the tokenizer, no number it prints)."""
    records = synthetic_records(per_class=14)
    rng = random.Random(2024)
    texts = [f"{text} mrn{rng.randrange(10**11, 10**12)}x" for text in records.texts]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, [records.class_names[y] for y in records.labels]))
    return texts


def test_a_run_writes_no_text_and_nothing_outside_its_folders(tmp_path, tiny_model_dir):
    """Every file a run writes (results, logs, tokenization cache, kept checkpoint) and its
    output are searched for every input text and every record number; a fresh HOME and TMPDIR
    show what it writes elsewhere."""
    texts = write_secret_notes(tmp_path / "notes.csv")
    home, temporary, out = tmp_path / "home", tmp_path / "tmp", tmp_path / "out"
    home.mkdir()
    temporary.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "TMPDIR": str(temporary), "PYTHONHASHSEED": "0"}
    argv = [*data_argv(tmp_path / "notes.csv", tiny_model_dir), "--strategy", "replay", "--out", str(out),
            "--log", "csv", "--log", "tensorboard", "--keep-checkpoint"]
    argv.remove("--no-cache")
    done = subprocess.run([sys.executable, "-m", "continual.run", *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    run = out / "notes-class" / "replay" / "seed-0"
    assert sorted(p.name for p in run.iterdir()) == ["accuracy_matrix.csv", "checkpoint", "config.json",
                                                     "confusion_matrix.csv", "confusion_matrix.png",
                                                     "forgetting_curve.png", "logs", "metrics.json",
                                                     "per_class.csv"]
    assert [p for p in (run / "logs").rglob("*") if p.is_file()], "the loggers wrote nothing to search"
    cache = home / ".cache" / "continual-medical"
    outside = [p for p in [*home.rglob("*"), *temporary.rglob("*")]
               if p.is_file() and cache not in p.parents]
    # Avalanche writes its own user config (a default dataset folder) when it is imported.
    assert [p.relative_to(home).as_posix() for p in outside] == [".avalanche/config.json"]
    written = [p for p in [*out.rglob("*"), *cache.rglob("*")] if p.is_file()]
    assert any(p.suffix == ".pt" for p in written) and any(cache in p.parents for p in written)
    numbers = [text.split()[-1] for text in texts]
    probes = [t.encode() for t in texts] + [t.upper().encode() for t in texts] + [n.encode() for n in numbers]
    probes += [n.encode("utf-16-le") for n in numbers]
    assert all(probe in (tmp_path / "notes.csv").read_bytes() for probe in probes[: len(texts)])  # the search works
    for path in written:
        content = path.read_bytes()
        assert not any(probe in content for probe in probes), path
    for stream in (done.stdout, done.stderr):
        assert not any(n in stream for n in numbers)
