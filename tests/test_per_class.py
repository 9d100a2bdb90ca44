"""Per-class results (docs/design.md, Metrics): after each training step the predictions on the
test sets seen so far are pooled into one confusion matrix over the classes seen so far; macro-F1
and per-class precision, recall and F1 equal scikit-learn's on the same pooled predictions in
class, domain and task layouts; a tiny run writes per_class.csv and confusion_matrix.csv."""
import csv
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import TINY_TRAINING, synthetic_stream
from sklearn.metrics import f1_score, precision_recall_fscore_support

from continual import (
    ExperimentConfig,
    ModelConfig,
    StreamConfig,
    TrainingConfig,
    run_experiment,
)
from continual.check import main as check
from continual.evaluation import per_class
from continual.evaluation.predictions import ClassSpace, PredictionCollector


def fake_stream(scenario: str, classes: list[list[int]], n_test: int, rng) -> SimpleNamespace:
    """Experiences with ``classes`` each and ``n_test`` random test labels drawn from them; task
    streams number each task's labels from 0, as build_stream does."""
    experiences = []
    for e, own in enumerate(classes):
        local = list(range(len(own))) if scenario == "task" else own
        experiences.append(SimpleNamespace(
            id=e, task=e if scenario == "task" else 0, classes=local,
            label_names=[f"c{c}" for c in own] if scenario == "task" else None,
            test_labels=rng.choice(local, size=n_test).tolist()))
    names = [f"task{e}: c{c}" for e, own in enumerate(classes) for c in own] if scenario == "task" \
        else [f"c{c}" for c in range(max(max(own) for own in classes) + 1)]
    return SimpleNamespace(scenario=scenario, class_names=names, experiences=experiences)


def random_predictions(stream, width: int, rng) -> PredictionCollector:
    """A collector holding random predictions over ``width`` outputs (some beyond any class)
    for every experience's test labels, in two minibatches each."""
    collector = PredictionCollector()
    for e, exp in enumerate(stream.experiences):
        labels = torch.tensor(exp.test_labels)
        predicted = torch.tensor(rng.integers(0, width, size=len(labels)))
        for part in (slice(0, len(labels) // 2), slice(len(labels) // 2, None)):
            collector.targets[e].append(labels[part])
            collector.predictions[e].append(predicted[part])
    return collector


def sklearn_keys(stream, e: int, labels) -> list[str]:
    """Class keys written independently of ClassSpace: (task, label) in task streams."""
    task = stream.experiences[e].task
    return [f"{task}/{int(y)}" if stream.scenario == "task" else str(int(y)) for y in labels]


LAYOUTS = {
    "class": [[0, 3], [1, 4], [2, 5], [6]],
    "domain": [[0, 1, 2], [0, 1, 2], [0, 2], [1, 2]],
    "task": [[0, 1], [2, 3, 4], [5, 6], [7]],
}


@pytest.mark.parametrize("scenario", sorted(LAYOUTS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pooled_scores_equal_scikit_learn(scenario, seed):
    rng = np.random.default_rng(seed)
    stream = fake_stream(scenario, LAYOUTS[scenario], n_test=9, rng=rng)
    collector = random_predictions(stream, width=9 if scenario != "task" else 4, rng=rng)
    space = ClassSpace.of(stream)
    for step in range(len(stream.experiences)):
        classes, counts = collector.pooled_confusion(space, step)
        true, predicted = [], []
        for e in range(step + 1):
            true += sklearn_keys(stream, e, torch.cat(collector.targets[e]))
            predicted += sklearn_keys(stream, e, torch.cat(collector.predictions[e]))
        seen = [space.keys[c] for c in classes]
        labels = [f"{k[0]}/{k[1]}" if scenario == "task" else str(k) for k in seen]
        precision, recall, f1, support = precision_recall_fscore_support(
            true, predicted, labels=labels, average=None, zero_division=0)
        scores = per_class.per_class_scores(counts)
        assert scores["precision"] == pytest.approx(precision.tolist(), abs=1e-12)
        assert scores["recall"] == pytest.approx(recall.tolist(), abs=1e-12)
        assert scores["f1"] == pytest.approx(f1.tolist(), abs=1e-12)
        assert scores["support"] == support.tolist()
        assert per_class.macro_f1(counts) == pytest.approx(
            f1_score(true, predicted, labels=labels, average="macro", zero_division=0), abs=1e-12)
        by_label = dict(zip(labels, f1))
        expected_row = []
        for e, exp in enumerate(stream.experiences):
            own = sklearn_keys(stream, e, exp.classes)
            expected_row.append(float(np.mean([by_label.get(k, 0.0) for k in own])))
        assert per_class.experience_f1(counts, classes, space.experience_classes) == pytest.approx(expected_row)
        if scenario == "class":  # classes of later experiences are unseen: their F1 is 0
            assert all(v == 0.0 for v in expected_row[step + 1:])


def test_one_experience_predicted_as_another_is_a_false_positive():
    """Two experiences, classes {0} and {1}; after the second, every text of the first is
    predicted as class 1 and every text of the second is right: ACC 0.5, macro-F1 1/3."""
    stream = fake_stream("class", [[0], [1]], n_test=4, rng=np.random.default_rng(0))
    collector = PredictionCollector()
    collector.targets[0], collector.predictions[0] = [torch.zeros(4, dtype=torch.long)], [torch.ones(4, dtype=torch.long)]
    collector.targets[1], collector.predictions[1] = [torch.ones(4, dtype=torch.long)], [torch.ones(4, dtype=torch.long)]
    space = ClassSpace.of(stream)
    classes, counts = collector.pooled_confusion(space, 1)
    assert classes == [0, 1] and counts == [[0, 4, 0], [0, 4, 0]]
    assert np.mean([collector.accuracy(0), collector.accuracy(1)]) == pytest.approx(0.5)
    assert per_class.macro_f1(counts) == pytest.approx(1 / 3)
    assert per_class.per_class_scores(counts)["precision"] == [0.0, 0.5]
    assert per_class.experience_f1(counts, classes, space.experience_classes) == pytest.approx([0.0, 2 / 3])


def test_a_prediction_of_an_unseen_class_counts_against_recall_only():
    counts = per_class.confusion_counts([0, 0, 1, 1], [0, 7, 1, 1], classes=[0, 1])
    assert counts == [[1, 0, 1], [0, 2, 0]]
    scores = per_class.per_class_scores(counts)
    assert scores["precision"] == [1.0, 1.0] and scores["recall"] == [0.5, 1.0] and scores["support"] == [2, 2]


def test_equal_local_labels_of_two_tasks_are_two_classes():
    stream = fake_stream("task", [[0, 1], [2, 3]], n_test=4, rng=np.random.default_rng(0))
    space = ClassSpace.of(stream)
    assert space.keys == ((0, 0), (0, 1), (1, 0), (1, 1))
    assert space.names == ("task0: c0", "task0: c1", "task1: c2", "task1: c3")
    assert space.experience_classes == ((0, 1), (2, 3))
    assert space.ids(1, np.array([0, 1, 2])).tolist() == [2, 3, -1]  # local 2: no class of task 1


def test_rows_and_table_hold_names_and_counts_only():
    counts = [[3, 1, 0], [0, 2, 1]]
    rows = per_class.per_class_rows([[1], [1, 4]], [[[2, 0]], counts], ["a", "b", "c", "d", "e"])
    assert [row[:3] for row in rows] == [[0, 1, "b"], [1, 1, "b"], [1, 4, "e"]]
    assert [row[6] for row in rows] == [2, 4, 3]
    header, table = per_class.confusion_table([1, 4], counts, ["a", "b", "c", "d", "e"])
    assert header == ["true \\ predicted", "b", "e", "outside the seen classes"]
    assert table == [["b", 3, 1, 0], ["e", 0, 2, 1]]
    header, table = per_class.confusion_table([1, 4], [[3, 1, 0], [0, 2, 0]], ["a", "b", "c", "d", "e"])
    assert header == ["true \\ predicted", "b", "e"] and table == [["b", 3, 1], ["e", 0, 2]]


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_a_tiny_run_writes_per_class_results(tiny_model_dir, tmp_path, capsys):
    """A class-incremental run with a fixed head: per_class.csv holds one row per class seen
    through each step (averaging to macro_f1_by_step), the confusion matrix holds the last
    step's classes, FWT is defined (the fixed head has every class from the start) and
    continual.check accepts the folder."""
    config = ExperimentConfig(strategy="naive", seed=0, out=str(tmp_path),
                              stream=StreamConfig(no_cache=True, max_length=16),
                              model=ModelConfig(model=tiny_model_dir, head="fixed"),
                              training=TrainingConfig(device="cpu", **TINY_TRAINING))
    stream = synthetic_stream()
    result = run_experiment(config, stream=stream, progress=False)
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert metrics["fwt"] is not None and metrics["notes"] == [] and metrics["score"] == "accuracy"
    assert metrics["macro_f1"] == metrics["macro_f1_by_step"][-1]
    rows = read_csv(result.run_dir / "per_class.csv")
    assert rows[0] == ["after_experience", "class_id", "class_name", "precision", "recall", "f1", "support"]
    seen = []
    for step, exp in enumerate(stream.experiences):
        seen = sorted(seen + exp.classes)
        block = [row for row in rows[1:] if row[0] == str(step)]
        assert [int(row[1]) for row in block] == seen
        assert [row[2] for row in block] == [stream.class_names[c] for c in seen]
        assert [int(row[6]) for row in block] == [6] * len(seen)  # TEST_PER_CLASS texts each
        assert np.mean([float(row[5]) for row in block]) == pytest.approx(metrics["macro_f1_by_step"][step])
    table = read_csv(result.run_dir / "confusion_matrix.csv")
    assert [row[0] for row in table[1:]] == [stream.class_names[c] for c in seen]
    assert (result.run_dir / "confusion_matrix.png").stat().st_size > 1000
    assert check([str(result.run_dir)]) == 0
    capsys.readouterr()
