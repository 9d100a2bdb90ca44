"""Multi-label data: list and delimited label columns, negatives, and the scenarios of
multi-label streams."""
import json
import random

import pandas as pd
import pytest

from streams import DataError, build_multilabel_stream, detect_task_type, load_multilabel_source, validation_view

from conftest import CLASS_WORDS, FILLER

LABELS = ["asthma", "diabetes", "fracture", "migraine"]


def notes(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Notes with one label, two labels (every seventh) or none (every fifth), unique texts."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        chosen = [] if i % 5 == 4 else [LABELS[i % 4]] + ([LABELS[(i + 1) % 4]] if i % 7 == 0 else [])
        words = [rng.choice(FILLER) for _ in range(3)]
        for label in chosen:
            words += rng.sample(CLASS_WORDS[label], 2)
        texts.append(" ".join(words + [f"n{i}"]))
        labels.append(chosen)
    return pd.DataFrame({"note": texts, "codes": labels, "site": [["north", "south"][i % 2] for i in range(n)]})


def build(table, **options):
    settings = dict(scenario="class", seed=0, n_experiences=2, train_per_class=20, test_per_class=6)
    return build_multilabel_stream(table, **{**settings, **options})


def clean(caught, frame=None) -> str:
    message = str(caught.value)
    assert "\n" not in message and message.strip() == message
    for text in ([] if frame is None else frame["note"]):
        assert text not in message
    return message


def test_list_column_and_delimited_string_column_agree(tmp_path):
    frame = notes(40)
    frame.to_json(tmp_path / "notes.jsonl", orient="records", lines=True)
    listed = load_multilabel_source(str(tmp_path / "notes.jsonl"), text_col="note", label_col="codes")
    delimited = frame.assign(codes=[";".join(c) for c in frame["codes"]])
    delimited.to_csv(tmp_path / "notes.csv", index=False)
    split = load_multilabel_source(str(tmp_path / "notes.csv"), text_col="note", label_col="codes",
                                   label_sep=";", domain_col="site")
    assert listed.class_names == split.class_names == LABELS
    assert listed.labels == split.labels == [sorted(LABELS.index(c) for c in codes) for codes in frame["codes"]]
    assert listed.texts == split.texts == frame["note"].tolist()
    assert split.domains == frame["site"].tolist()
    assert [] in listed.labels  # a text without a label is a negative, not dropped
    written = frame.assign(codes=[json.dumps(c) for c in frame["codes"]])  # a CSV of written lists
    written.to_csv(tmp_path / "written.csv", index=False)
    assert load_multilabel_source(str(tmp_path / "written.csv"), text_col="note", label_col="codes").labels == listed.labels
    assert detect_task_type(str(tmp_path / "notes.csv"), label_sep=";") == "multi-label"


def test_datasets_sequence_class_label_column_and_label_names(tmp_path):
    import datasets

    features = datasets.Features({"note": datasets.Value("string"),
                                  "codes": datasets.Sequence(datasets.ClassLabel(names=["J45", "E11"]))})
    data = datasets.Dataset.from_dict({"note": ["wheeze", "sugar and wheeze", "rash"], "codes": [[0], [0, 1], []]},
                                      features=features)
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"E11": "type 2 diabetes", "J45": "asthma"}))
    table = load_multilabel_source(data, text_col="note", label_col="codes", label_names=str(names))
    assert table.label_values == ["E11", "J45"] and table.class_names == ["type 2 diabetes", "asthma"]
    assert table.labels == [[1], [0, 1], []]


def test_blank_texts_are_counted_and_numbers_kept_numeric(tmp_path):
    frame = pd.DataFrame({"note": ["a b", " ", "c d", "e f"], "codes": ["10;2", "2", "", "2"]})
    frame.to_csv(tmp_path / "n.csv", index=False)
    table = load_multilabel_source(str(tmp_path / "n.csv"), text_col="note", label_col="codes", label_sep=";")
    assert table.label_values == [2, 10] and table.labels == [[0, 1], [], [0]]
    assert table.dropped["blank_texts"] == 1


def test_bad_label_columns_are_refused(tmp_path):
    frame = notes(20)
    empty = frame.assign(codes=[[] for _ in range(len(frame))])
    with pytest.raises(DataError) as caught:
        load_multilabel_source(empty, text_col="note", label_col="codes")
    assert clean(caught, frame) == ("no text of dataframe has a label (every label set in 'codes' is empty): "
                                    "check --label-col and --label-sep")
    mixed = frame.assign(codes=[[1] if i % 2 else ["x"] for i in range(len(frame))])
    with pytest.raises(DataError, match="mixes numbers and strings") as caught:
        load_multilabel_source(mixed, text_col="note", label_col="codes")
    clean(caught, frame)
    with pytest.raises(DataError, match="column 'labels' \\(--label-col\\) is not in the DataFrame") as caught:
        load_multilabel_source(frame, text_col="note", label_col="labels")
    with pytest.raises(DataError, match="--label-sep is empty"):
        load_multilabel_source(frame, text_col="note", label_col="codes", label_sep="")
    broken = frame.assign(codes=["[asthma, copd]" if i == 3 else "asthma" for i in range(len(frame))])
    broken.to_csv(tmp_path / "broken.csv", index=False)
    with pytest.raises(DataError, match="row 4 of broken.csv starts with") as caught:
        load_multilabel_source(str(tmp_path / "broken.csv"), text_col="note", label_col="codes")
    clean(caught, frame)


def test_class_stream_trains_on_own_labels_and_tests_on_every_label():
    frame = notes()
    table = load_multilabel_source(frame, text_col="note", label_col="codes")
    stream = build(table, val_per_class=3)
    assert stream.task_type == "multi-label" and stream.class_names == LABELS
    gold = dict(zip(table.texts, table.labels))
    all_test = {i for e in stream.experiences for i in e.test_ids}
    for e in stream.experiences:
        own = set(e.classes)
        for text, labels in zip(e.train_texts, e.train_labels):
            assert labels == [k for k in gold[text] if k in own]
            assert labels or not gold[text]  # a text left with no label was drawn as a negative
        assert e.test_labels == [table.labels[i] for i in e.test_ids]
        assert e.test_texts == [table.texts[i] for i in e.test_ids]
        carrying = {i for i in all_test if set(table.labels[i]) & own}
        negatives = {i for i in e.test_ids if not table.labels[i]}
        assert set(e.test_ids) == carrying | negatives and negatives
        for k in e.classes:  # per-label caps count texts
            assert 20 <= sum(1 for labels in e.train_labels if k in labels) <= 40
        assert sum(1 for labels in e.train_labels if not labels) == 20
    assert any(set(table.labels[i]) - set(e.classes) for e in stream.experiences for i in e.test_ids)
    view = validation_view(stream)
    assert [v.test_ids for v in view.experiences] == [e.val_ids for e in stream.experiences]


def test_class_stream_is_deterministic_and_its_test_examples_do_not_depend_on_the_seed():
    table = load_multilabel_source(notes(), text_col="note", label_col="codes")
    a, b, c = build(table), build(table), build(table, seed=2)
    assert [e.train_texts for e in a.experiences] == [e.train_texts for e in b.experiences]
    assert [e.classes for e in a.experiences] != [e.classes for e in c.experiences]
    assert {i for e in a.experiences for i in e.test_ids} == {i for e in c.experiences for i in e.test_ids}
    train = [t for e in a.experiences for t in e.train_texts]
    assert len(train) == len(set(train)) and not set(train) & {t for e in a.experiences for t in e.test_texts}


def test_domain_and_task_scenarios():
    frame = notes()
    frame["team"] = ["ward" if i % 3 else "clinic" for i in range(len(frame))]
    table = load_multilabel_source(frame, text_col="note", label_col="codes", domain_col="site", task_col="team")
    domain = build(table, scenario="domain", n_experiences=None)
    assert domain.extra["domains"] == ["north", "south"]
    for e in domain.experiences:
        assert e.classes == [0, 1, 2, 3] and e.test_labels == [table.labels[i] for i in e.test_ids]
        assert e.train_labels == [table.labels[table.texts.index(t)] for t in e.train_texts]
    task = build(table, scenario="task", n_experiences=1)
    assert len(task.experiences) == 1 and task.experiences[0].label_names == LABELS
    assert task.class_names == [f"clinic: {name}" for name in LABELS]
