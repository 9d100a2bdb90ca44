"""--data sources through the CLI, in-process: every scenario, validation and early stopping."""
import json

import pandas as pd
import pytest

from continual.run import main

from conftest import CLASS_WORDS, synthetic_records


@pytest.fixture
def notes_csv(tmp_path):
    records = synthetic_records(per_class=18)
    names = list(CLASS_WORDS)
    rows = [{"note": t, "diagnosis": names[y], "hospital": ["north", "south", "east"][i % 3],
             "task": "respiratory" if y < 3 else "other", "patient": f"p{i // 2}"}
            for i, (t, y) in enumerate(zip(records.texts, records.labels))]
    path = tmp_path / "notes.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _run(tmp_path, model_dir, *extra):
    return main(["--strategy", "naive", "--model", model_dir, "--out", str(tmp_path / "out"), "--no-cache",
                 "--no-progress", "--batch-size", "8", "--epochs", "1", *extra])


@pytest.mark.parametrize("scenario, extra, experiences", [
    ("class", ["--experiences", "3"], 3),
    ("domain", ["--domain-col", "hospital"], 3),
    ("task", ["--task-col", "task"], 2),
])
def test_csv_in_every_scenario(scenario, extra, experiences, notes_csv, tmp_path, tiny_model_dir):
    code = _run(tmp_path, tiny_model_dir, "--data", str(notes_csv), "--text-col", "note",
                "--label-col", "diagnosis", "--scenario", scenario, "--group-col", "patient", *extra)
    assert code == 0
    run = tmp_path / "out" / f"notes-{scenario}" / "naive" / "seed-0"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["scenario"] == scenario and len(metrics["experiences"]) == experiences
    assert (metrics["fwt"] is None) == (scenario in ("class", "task"))  # default heads: masked, per task
    text = "".join(p.read_text(errors="ignore") for p in run.iterdir() if p.suffix in (".json", ".csv"))
    assert "wheeze" not in text and "glucose" not in text  # no input text in results


def test_validation_and_early_stopping(notes_csv, tmp_path, tiny_model_dir):
    code = _run(tmp_path, tiny_model_dir, "--data", str(notes_csv), "--text-col", "note", "--label-col",
                "diagnosis", "--scenario", "class", "--experiences", "2", "--val-per-class", "2",
                "--early-stopping", "--epochs", "3", "--name", "notes-es")
    assert code == 0
    config = json.loads((tmp_path / "out" / "notes-es" / "naive" / "seed-0" / "config.json").read_text())
    assert len(config["validation_accuracy_matrix"]) == 2
    assert config["config"]["training"]["early_stopping"] is True


@pytest.mark.parametrize("extra, needle", [
    (["--text-col", "nope", "--label-col", "diagnosis", "--scenario", "class"], "nope"),
    (["--label-col", "diagnosis", "--scenario", "class"], "--text-col"),
    (["--text-col", "note", "--label-col", "diagnosis", "--scenario", "domain"], "--domain-col"),
    (["--text-col", "note", "--label-col", "diagnosis", "--scenario", "class", "--experiences", "9"], "experiences"),
])
def test_bad_data_is_one_line(extra, needle, notes_csv, tmp_path, tiny_model_dir, capsys):
    assert _run(tmp_path, tiny_model_dir, "--data", str(notes_csv), *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([l for l in err if l.startswith("error:")]) == 1 and needle in err[-1]
    assert "Traceback" not in "\n".join(err)


def test_missing_file(tmp_path, tiny_model_dir, capsys):
    assert _run(tmp_path, tiny_model_dir, "--data", str(tmp_path / "none.csv"), "--text-col", "a",
                "--label-col", "b", "--scenario", "class") == 2
    assert "none.csv" in capsys.readouterr().err


def test_early_stopping_needs_validation(capsys):
    assert main(["--early-stopping"]) == 2
    assert "--val-per-class" in capsys.readouterr().err


def test_the_python_api_takes_a_dataframe_or_a_datasets_dataset(tmp_path, tiny_model_dir):
    """run_experiment(config, data=...) reads a pandas DataFrame or a datasets Dataset with the
    configuration's column names, and gives the same run as the same rows in a CSV file."""
    import datasets
    import pandas as pd

    from continual import ExperimentConfig, ModelConfig, StreamConfig, TrainingConfig, run_experiment
    from conftest import TINY_TRAINING, write_notes

    csv_path = write_notes(tmp_path / "notes.csv")
    frame = pd.read_csv(csv_path)

    def config(data=None):
        return ExperimentConfig(strategy="naive", seed=0, out=str(tmp_path / "out"),
                                stream=StreamConfig(data=data, text_col="text", label_col="label", scenario="class",
                                                    experiences=3, train_per_class=10, test_per_class=6,
                                                    max_length=16, no_cache=True),
                                model=ModelConfig(model=tiny_model_dir),
                                training=TrainingConfig(device="cpu", **TINY_TRAINING))

    from_file = run_experiment(config(str(csv_path)), progress=False, write=False).metrics
    from_frame = run_experiment(config(), data=frame, progress=False, write=False).metrics
    from_dataset = run_experiment(config(), data=datasets.Dataset.from_pandas(frame), progress=False,
                                  write=False).metrics
    for metrics in (from_frame, from_dataset):
        assert metrics["accuracy_matrix"] == from_file["accuracy_matrix"]
    assert from_frame["stream"].split("-")[0] == "dataframe" and from_dataset["stream"].split("-")[0] == "dataset"
