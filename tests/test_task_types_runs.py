"""Token tagging and multi-label runs through the CLI on small files written here, with the tiny
random BERT: results files, scores, the class-incremental protocol, refusals."""
import csv
import json
import random

import pytest

from continual.check import main as check_main
from continual.run import main

from conftest import CLASS_WORDS, FILLER

TYPES = ["asthma", "diabetes", "fracture", "migraine"]


def _sentence(rng, kinds):
    """Words and BIO tags: filler words around one entity (one or two words) per kind."""
    words, tags = [], []
    for kind in kinds:
        words += [rng.choice(FILLER) for _ in range(rng.randint(1, 3))]
        entity = rng.sample(CLASS_WORDS[kind], rng.randint(1, 2))
        words += entity
        tags += ["O"] * (len(words) - len(tags) - len(entity)) + [f"B-{kind}"] + [f"I-{kind}"] * (len(entity) - 1)
    words.append(rng.choice(FILLER))
    tags.append("O")
    return words, tags


def write_conll(path, n=160, seed=0):
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            kinds = [TYPES[i % 4]] + ([TYPES[(i // 4) % 4]] if i % 5 == 0 and (i // 4) % 4 != i % 4 else [])
            for word, tag in zip(*_sentence(rng, kinds)):
                handle.write(f"{word}\t{tag}\n")
            handle.write("\n")
    return path


def write_multilabel(path, n=160, seed=0):
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["note", "codes"])
        for i in range(n):
            kinds = sorted({TYPES[i % 4], TYPES[rng.randrange(4)]}) if i % 3 == 0 else [TYPES[i % 4]]
            words = [w for k in kinds for w in rng.sample(CLASS_WORDS[k], 2)] + rng.sample(FILLER, 3)
            rng.shuffle(words)
            writer.writerow([" ".join(words) + f" {i}", ";".join(kinds)])
    return path


def _run(tmp_path, model_dir, *extra, strategy="naive"):
    return main(["--strategy", strategy, "--model", model_dir, "--out", str(tmp_path / "out"), "--no-cache",
                 "--no-progress", "--batch-size", "8", "--epochs", "6", "--lr", "0.01",
                 "--train-per-class", "20", "--test-per-class", "10", *extra])


def _metrics(tmp_path, stream, strategy="naive"):
    run = tmp_path / "out" / stream / strategy / "seed-0"
    return run, json.loads((run / "metrics.json").read_text())


def test_a_token_run_scores_entity_f1_and_keeps_the_results_contract(tmp_path, tiny_model_dir):
    data = write_conll(tmp_path / "tags.conll")
    assert _run(tmp_path, tiny_model_dir, "--data", str(data), "--scenario", "class", "--experiences", "2",
                "--class-order", "asthma,diabetes,fracture,migraine") == 0
    run, m = _metrics(tmp_path, "tags-class")
    assert m["score"] == "entity_f1"
    assert [e["class_names"] for e in m["experiences"]] == [["asthma", "diabetes"], ["fracture", "migraine"]]
    assert m["accuracy_matrix"][0][1] == 0.0 and m["fwt"] is None  # future types cannot be predicted
    assert m["accuracy_matrix"][0][0] > 0.5  # the tiny model learns the entity words
    rows = list(csv.DictReader(open(run / "per_class.csv")))
    assert {r["class_name"] for r in rows if r["after_experience"] == "1"} == set(TYPES)
    header = next(csv.reader(open(run / "confusion_matrix.csv")))
    assert header[1:5] == ["asthma", "diabetes", "fracture", "migraine"]
    assert check_main([str(run)]) == 0
    text = "".join(p.read_text(errors="ignore") for p in run.iterdir() if p.suffix in (".json", ".csv"))
    assert "wheeze" not in text and "inhaler" not in text  # no input word in results


def test_a_multilabel_run_scores_micro_f1(tmp_path, tiny_model_dir):
    data = write_multilabel(tmp_path / "codes.csv")
    assert _run(tmp_path, tiny_model_dir, "--data", str(data), "--text-col", "note", "--label-col", "codes",
                "--label-sep", ";", "--scenario", "class", "--experiences", "2") == 0
    run, m = _metrics(tmp_path, "codes-class")
    assert m["score"] == "micro_f1"
    assert len(m["accuracy_matrix"]) == 2 and m["accuracy_matrix"][0][0] > 0.5
    assert check_main([str(run)]) == 0


@pytest.mark.parametrize("strategy", ["replay", "ewc", "lwf"])
def test_token_strategies_run(strategy, tmp_path, tiny_model_dir):
    data = write_conll(tmp_path / "tags.conll", n=80)
    assert _run(tmp_path, tiny_model_dir, "--data", str(data), "--scenario", "class", "--experiences", "2",
                strategy=strategy) == 0
    _, m = _metrics(tmp_path, "tags-class", strategy)
    assert m["score"] == "entity_f1"


@pytest.mark.parametrize("strategy", ["replay", "der", "ewc", "lwf"])
def test_multilabel_strategies_run(strategy, tmp_path, tiny_model_dir):
    data = write_multilabel(tmp_path / "codes.csv", n=80)
    assert _run(tmp_path, tiny_model_dir, "--data", str(data), "--text-col", "note", "--label-col", "codes",
                "--label-sep", ";", "--scenario", "class", "--experiences", "2", strategy=strategy) == 0


@pytest.mark.parametrize("strategy, task", [("si", "token"), ("gem", "multi-label"), ("icarl", "token"),
                                            ("der", "token"), ("lora-per-task", "multi-label")])
def test_strategies_without_the_task_type_are_refused_before_training(strategy, task, tmp_path, tiny_model_dir,
                                                                      capsys):
    if task == "token":
        data = ["--data", str(write_conll(tmp_path / "tags.conll", n=40))]
    else:
        data = ["--data", str(write_multilabel(tmp_path / "codes.csv", n=40)), "--text-col", "note",
                "--label-col", "codes", "--label-sep", ";"]
    assert _run(tmp_path, tiny_model_dir, *data, "--scenario", "class", strategy=strategy) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and strategy in err[0] and task in err[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("metrics.json"))


@pytest.mark.parametrize("name, content, extra", [
    ("scheme.conll", "glucose B-diabetes\ninsulin X-diabetes\n\n", []),  # an unknown tag scheme
    ("lengths.jsonl", '{"tokens": ["glucose", "high"], "tags": ["B-diabetes"]}\n', []),
    ("empty.csv", "note,codes\nglucose high,\ninsulin low,\n", ["--text-col", "note", "--label-col", "codes",
                                                                  "--label-sep", ";"]),
])
def test_bad_task_data_is_one_line_and_exit_2(name, content, extra, tmp_path, tiny_model_dir, capsys):
    bad = tmp_path / name
    bad.write_text(content, encoding="utf-8")
    assert _run(tmp_path, tiny_model_dir, "--data", str(bad), "--scenario", "class", *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0] and "glucose" not in err[0]


def _stop_after_first_experience(monkeypatch):
    """Make a run stop as Ctrl-C stops it once its first experience is checkpointed; returns the
    real ``checkpoint.save`` to put back for the resume."""
    from continual.state import checkpoint

    real_save = checkpoint.save

    def save(run_dir, payload):
        path = real_save(run_dir, payload)
        if payload["progress"]["finished"] == 1:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(checkpoint, "save", save)
    return real_save


def test_an_interrupted_token_run_resumes_to_the_uninterrupted_numbers(tmp_path, tiny_model_dir, monkeypatch):
    from continual.state import checkpoint

    data = write_conll(tmp_path / "tags.conll", n=80)
    argv = ["--data", str(data), "--scenario", "class", "--experiences", "2"]
    assert _run(tmp_path / "whole", tiny_model_dir, *argv, strategy="replay") == 0
    real_save = _stop_after_first_experience(monkeypatch)
    assert _run(tmp_path / "cut", tiny_model_dir, *argv, strategy="replay") == 130
    monkeypatch.setattr(checkpoint, "save", real_save)
    assert _run(tmp_path / "cut", tiny_model_dir, *argv, "--resume", strategy="replay") == 0
    _, whole = _metrics(tmp_path / "whole", "tags-class", "replay")
    _, cut = _metrics(tmp_path / "cut", "tags-class", "replay")
    assert cut["accuracy_matrix"] == whole["accuracy_matrix"]
    assert cut["macro_f1_by_step"] == whole["macro_f1_by_step"]


@pytest.mark.parametrize("task", ["token", "multi-label"])
def test_the_domain_scenario_keeps_every_type_in_each_experience(task, tmp_path, tiny_model_dir):
    rng = random.Random(1)
    if task == "token":
        path = tmp_path / "sites.jsonl"
        with open(path, "w", encoding="utf-8") as handle:
            for i in range(120):
                words, tags = _sentence(rng, [TYPES[i % 2]])
                handle.write(json.dumps({"tokens": words, "tags": tags, "site": f"s{i % 3}"}) + "\n")
        data = ["--data", str(path), "--domain-col", "site"]
    else:
        path = tmp_path / "sites.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["note", "codes", "site"])
            for i in range(120):
                writer.writerow([" ".join(rng.sample(CLASS_WORDS[TYPES[i % 2]], 2)) + f" {i}", TYPES[i % 2], f"s{i % 3}"])
        data = ["--data", str(path), "--text-col", "note", "--label-col", "codes", "--label-sep", ";",
                "--domain-col", "site"]
    assert _run(tmp_path, tiny_model_dir, *data, "--scenario", "domain") == 0
    _, m = _metrics(tmp_path, "sites-domain")
    assert [len(e["classes"]) for e in m["experiences"]] == [2, 2, 2]
    assert m["fwt"] is not None  # every experience's types have units from the first experience on


def test_label_sep_with_another_task_type_is_refused(tmp_path, tiny_model_dir, capsys):
    data = write_multilabel(tmp_path / "codes.csv", n=20)
    assert _run(tmp_path, tiny_model_dir, "--data", str(data), "--text-col", "note", "--label-col", "codes",
                "--label-sep", ";", "--task-type", "token", "--scenario", "class") == 2
    assert "--label-sep" in capsys.readouterr().err


def test_tuning_a_token_stream_scores_its_validation_sentences(tmp_path, tiny_model_dir, capsys):
    from continual.tune import main as tune_main

    data = write_conll(tmp_path / "tags.conll", n=120)
    argv = ["--strategy", "naive", "--model", tiny_model_dir, "--out", str(tmp_path / "tuning"), "--no-cache",
            "--no-progress", "--batch-size", "8", "--epochs", "2", "--train-per-class", "15",
            "--test-per-class", "5", "--val-per-class", "5", "--data", str(data), "--scenario", "class",
            "--experiences", "2", "--grid", "training.lr=0.003,0.01", "--metric", "learning_accuracy"]
    assert tune_main(argv) == 0, capsys.readouterr().err
    rows = list(csv.DictReader(open(tmp_path / "tuning" / "tags-class" / "naive" / "tuning.csv")))
    assert len(rows) == 4 and all(0.0 <= float(r["learning_accuracy"]) <= 1.0 for r in rows)
    trial = tmp_path / "tuning" / "tags-class" / "naive" / "trials"
    metrics = [json.loads(p.read_text()) for p in trial.rglob("metrics.json")]
    assert metrics and all(m["score"] == "entity_f1" for m in metrics)


def _two_task_data(tmp_path, task):
    """Two tasks whose labels are both numbered 0, 1 inside their task: asthma/diabetes notes from
    one clinic, fracture/migraine notes from another."""
    rng = random.Random(2)
    clinics = {"pulmo": TYPES[:2], "neuro": TYPES[2:]}
    rows = [(clinic, kinds[i % 2]) for i in range(80) for clinic, kinds in clinics.items()]
    if task == "token":
        path = tmp_path / "clinics.jsonl"
        with open(path, "w", encoding="utf-8") as handle:
            for clinic, kind in rows:
                words, tags = _sentence(rng, [kind])
                handle.write(json.dumps({"tokens": words, "tags": tags, "clinic": clinic}) + "\n")
        return ["--data", str(path), "--task-col", "clinic"]
    path = tmp_path / "clinics.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["note", "codes", "clinic"])
        for i, (clinic, kind) in enumerate(rows):
            writer.writerow([" ".join(rng.sample(CLASS_WORDS[kind], 2)) + f" {i}", kind, clinic])
    return ["--data", str(path), "--text-col", "note", "--label-col", "codes", "--label-sep", ";",
            "--task-col", "clinic"]


@pytest.mark.parametrize("task", ["token", "multi-label"])
def test_the_task_scenario_gives_each_task_its_head_and_keeps_equal_local_labels_apart(task, tmp_path,
                                                                                       tiny_model_dir):
    data = _two_task_data(tmp_path, task)
    # lr 1e-3: at the other tests' 1e-2 the tiny encoder saturates on the first task's two words
    # and a label-set head cannot learn the second (so does a domain-incremental run)
    assert _run(tmp_path, tiny_model_dir, *data, "--scenario", "task", "--task-order", "pulmo,neuro",
                "--lr", "0.001", "--epochs", "15", "--save-model", strategy="replay") == 0
    run, m = _metrics(tmp_path, "clinics-task", "replay")
    from continual import load_model

    model = load_model(run)
    assert sorted(model.heads) == ["0", "1"]  # the saved model comes back with a head per task
    assert [e["classes"] for e in m["experiences"]] == [[0, 1], [0, 1]]  # local ids
    assert m["accuracy_matrix"][0][0] > 0.5 and m["accuracy_matrix"][1][1] > 0.5
    assert m["accuracy_matrix"][1][0] > 0.5  # the first task's head still answers after the second
    config = json.loads((run / "config.json").read_text())
    assert config["head"] == "multi"
    last = [r for r in csv.DictReader(open(run / "per_class.csv")) if r["after_experience"] == "1"]
    # four classes, not two: label 0 of pulmo and label 0 of neuro are scored apart
    assert sorted(r["class_name"] for r in last) == ["neuro: fracture", "neuro: migraine",
                                                     "pulmo: asthma", "pulmo: diabetes"]
    assert all(int(r["support"]) > 0 for r in last)
    assert check_main([str(run)]) == 0


def test_the_task_scenario_of_a_token_stream_refuses_a_strategy_that_reads_one_head(tmp_path, tiny_model_dir,
                                                                                     capsys):
    data = _two_task_data(tmp_path, "token")
    assert _run(tmp_path, tiny_model_dir, *data, "--scenario", "task", strategy="lwf") == 2
    err = capsys.readouterr().err
    assert "task-incremental" in err and "replay" in err and "Traceback" not in err


def test_an_interrupted_task_scenario_run_with_ewc_resumes_to_the_uninterrupted_numbers(tmp_path, tiny_model_dir,
                                                                                         monkeypatch):
    """The heads made per task and EWC's Fisher through them come back from the checkpoint."""
    from continual.state import checkpoint

    argv = [*_two_task_data(tmp_path, "token"), "--scenario", "task", "--task-order", "pulmo,neuro"]
    assert _run(tmp_path / "whole", tiny_model_dir, *argv, strategy="ewc") == 0
    real_save = _stop_after_first_experience(monkeypatch)
    assert _run(tmp_path / "cut", tiny_model_dir, *argv, strategy="ewc") == 130
    monkeypatch.setattr(checkpoint, "save", real_save)
    assert _run(tmp_path / "cut", tiny_model_dir, *argv, "--resume", strategy="ewc") == 0
    _, whole = _metrics(tmp_path / "whole", "clinics-task", "ewc")
    _, cut = _metrics(tmp_path / "cut", "clinics-task", "ewc")
    assert whole["accuracy_matrix"][1][1] > 0.5
    assert cut["accuracy_matrix"] == whole["accuracy_matrix"]
    assert cut["macro_f1_by_step"] == whole["macro_f1_by_step"]


def test_lora_trains_its_adapters_and_the_heads_of_a_token_task_stream(tmp_path, tiny_model_dir):
    from continual import load_model

    data = _two_task_data(tmp_path, "token")
    assert _run(tmp_path, tiny_model_dir, *data, "--scenario", "task", "--save-model", strategy="lora") == 0
    model = load_model(_metrics(tmp_path, "clinics-task", "lora")[0])
    trained = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert sorted(model.heads) == ["0", "1"] and trained == {"features", "heads"}
    assert all("lora_" in name for name, p in model.features.named_parameters() if p.requires_grad)
