"""build_stream over user tables (class / domain / task, splits, groups, shots, validation) and the
built-in ICD-10-CM streams."""
import warnings
from collections import Counter

import pandas as pd
import pytest

from streams import DataError, build_stream, load_source
from streams.registry import BUILTIN_STREAMS

from test_sources import assert_clean_error, notes_frame

SIZES = dict(train_per_class=8, test_per_class=3)


def table_of(tmp_path, frame, name="notes", **columns):
    frame.to_csv(tmp_path / f"{name}.csv", index=False)
    return load_source(str(tmp_path / f"{name}.csv"), text_col="note", label_col="diagnosis", **columns)


def all_texts(stream, side):
    return [t for e in stream.experiences for t in getattr(e, f"{side}_texts")]


def assert_no_overlap(stream):
    train, val, test = (set(all_texts(stream, s)) for s in ("train", "val", "test"))
    assert not train & test and not train & val and not val & test


def test_class_scenario(tmp_path):
    table = table_of(tmp_path, notes_frame())
    stream = build_stream(table, scenario="class", seed=0, n_experiences=None, **SIZES)
    assert stream.name == "notes-class" and stream.scenario == "class"
    assert [len(e.classes) for e in stream.experiences] == [2, 1, 1, 1, 1]  # 5 by default
    assert sorted(c for e in stream.experiences for c in e.classes) == list(range(6))
    for e in stream.experiences:
        assert e.task == 0 and set(e.train_labels) == set(e.test_labels) == set(e.classes)
        assert e.n_train == 8 * len(e.classes) and e.n_test == 3 * len(e.classes)
    assert stream.extra["duplicates_dropped"] == 0
    assert_no_overlap(stream)
    again = build_stream(table, scenario="class", seed=0, n_experiences=None, **SIZES)
    assert [e.train_texts for e in again.experiences] == [e.train_texts for e in stream.experiences]

    ordered = build_stream(table, scenario="class", seed=0, n_experiences=3, name="mine",
                           class_order=["migraine", "anemia", "asthma", "diabetes", "fracture",
                                        "dermatitis"], **SIZES)
    assert ordered.name == "mine"
    names = [[ordered.class_names[c] for c in e.classes] for e in ordered.experiences]
    assert names == [["migraine", "anemia"], ["asthma", "diabetes"], ["fracture", "dermatitis"]]


def test_class_scenario_errors(tmp_path):
    frame = notes_frame()
    table = table_of(tmp_path, frame)
    with pytest.raises(DataError) as caught:
        build_stream(table, scenario="class", seed=0, n_experiences=7, **SIZES)
    assert "between 1 and 6" in assert_clean_error(caught.value, frame)
    with pytest.raises(DataError) as caught:
        build_stream(table, scenario="class", seed=0, n_experiences=2, class_order=["asthma"], **SIZES)
    assert "every class exactly once" in assert_clean_error(caught.value, frame)
    with pytest.raises(DataError):
        build_stream(table, scenario="class", seed=0, n_experiences=2, domain_order=["north"], **SIZES)


def test_too_few_examples_of_a_label(tmp_path):
    frame = notes_frame()
    frame = frame[(frame["diagnosis"] != "anemia") | (frame.index == 60)]  # one anemia note left
    table = table_of(tmp_path, frame)
    with pytest.raises(DataError) as caught:
        build_stream(table, scenario="class", seed=0, n_experiences=3, **SIZES)
    message = assert_clean_error(caught.value, frame)
    assert "'anemia'" in message and "lower the minimum" in message
    with pytest.raises(DataError):
        build_stream(table, scenario="class", seed=0, n_experiences=3, min_examples_per_class=20, **SIZES)


def test_domain_scenario(tmp_path):
    frame = notes_frame()
    table = table_of(tmp_path, frame, domain_col="hospital")
    stream = build_stream(table, scenario="domain", seed=0, n_experiences=None, **SIZES)
    assert stream.name == "notes-domain" and stream.extra["domains"] == ["east", "north", "south"]
    for e in stream.experiences:
        assert e.task == 0 and e.classes == list(range(6)) and e.label_names is None
        assert set(e.train_labels) == set(e.test_labels) == set(range(6))
    assert stream.class_names == table.class_names
    assert_no_overlap(stream)

    first_two = build_stream(table, scenario="domain", seed=0, n_experiences=2,
                             domain_order=["south", "north", "east"], **SIZES)
    assert first_two.extra["domains"] == ["south", "north"]
    south = set(frame.loc[frame["hospital"] == "south", "note"])
    assert set(first_two.experiences[0].train_texts) <= south
    with pytest.raises(DataError) as caught:
        build_stream(table, scenario="domain", seed=0, n_experiences=4, **SIZES)
    assert "at most 3" in assert_clean_error(caught.value, frame)
    with pytest.raises(DataError) as caught:
        build_stream(table_of(tmp_path, frame), scenario="domain", seed=0, n_experiences=None, **SIZES)
    assert "--domain-col" in assert_clean_error(caught.value, frame)


def test_domain_without_test_examples(tmp_path):
    frame = notes_frame()
    frame.loc[0, "hospital"] = "tiny"  # one note: it goes to training, none left to test
    table = table_of(tmp_path, frame, domain_col="hospital")
    with pytest.raises(DataError) as caught:
        build_stream(table, scenario="domain", seed=0, n_experiences=None, **SIZES)
    message = assert_clean_error(caught.value, frame)
    assert "domain 'tiny' has no test examples" in message


def test_task_scenario_from_column_and_from_files(tmp_path):
    frame = notes_frame()
    frame["ward"] = ["medicine" if d in ("asthma", "diabetes", "anemia") else "surgery"
                     for d in frame["diagnosis"]]
    table = table_of(tmp_path, frame, task_col="ward")
    stream = build_stream(table, scenario="task", seed=0, n_experiences=None, **SIZES)
    assert [e.task for e in stream.experiences] == [0, 1]
    assert [e.label_names for e in stream.experiences] == [["anemia", "asthma", "diabetes"],
                                                          ["dermatitis", "fracture", "migraine"]]
    for e in stream.experiences:
        assert e.classes == [0, 1, 2] and set(e.train_labels) == set(e.test_labels) == {0, 1, 2}
        names = frame.set_index("note")["diagnosis"]
        assert all(e.label_names[y] == names[t] for t, y in zip(e.test_texts, e.test_labels))
    assert stream.class_names[0] == "medicine: anemia" and stream.n_classes == 6

    medicine, surgery = frame[frame["ward"] == "medicine"], frame[frame["ward"] == "surgery"]
    surgery.to_csv(tmp_path / "surgery.csv", index=False)
    medicine.to_csv(tmp_path / "medicine.csv", index=False)
    files = load_source(f"{tmp_path / 'surgery.csv'},{tmp_path / 'medicine.csv'}",
                        text_col="note", label_col="diagnosis")
    by_file = build_stream(files, scenario="task", seed=0, n_experiences=None, **SIZES)
    assert by_file.extra["tasks"] == ["surgery", "medicine"] and by_file.name == "surgery+medicine-task"
    assert by_file.experiences[0].label_names == ["dermatitis", "fracture", "migraine"]


def test_group_split_keeps_every_patient_on_one_side(tmp_path):
    frame = notes_frame(per_class=30)
    frame["patient"] = [f"p{i % 45}" for i in range(len(frame))]  # 4 notes per patient, mixed labels
    table = table_of(tmp_path, frame, group_col="patient")
    patient = dict(zip(frame["note"], frame["patient"]))
    for scenario, extra in (("class", {}), ("class", {"val_per_class": 3})):
        stream = build_stream(table, scenario=scenario, seed=1, n_experiences=2, train_per_class=20,
                              test_per_class=6, **extra)
        sides = {s: {patient[t] for t in all_texts(stream, s)} for s in ("train", "val", "test")}
        assert sides["test"] and not sides["train"] & sides["test"]
        assert not sides["val"] & (sides["train"] | sides["test"])
        assert bool(sides["val"]) == bool(extra)
        for e in stream.experiences:
            assert set(e.test_labels) == set(e.classes)  # still (approximately) stratified
            assert all(n <= 6 for n in Counter(e.test_labels).values())


def test_few_shot_counts_and_warning(tmp_path):
    frame = notes_frame()
    frame = frame[(frame["diagnosis"] != "fracture") | frame.index.isin(range(28, 32))]  # 4 fractures
    table = table_of(tmp_path, frame)
    with pytest.warns(UserWarning, match="class 'fracture' has only 3 training examples") as record:
        stream = build_stream(table, scenario="class", seed=0, n_experiences=2, shots=5, **SIZES)
    assert all(text not in str(w.message) for w in record for text in frame["note"])
    assert {w.filename for w in record} == {__file__}  # the warning names the caller's line
    counts = Counter(y for e in stream.experiences for y in e.train_labels)
    fracture = table.class_names.index("fracture")
    assert counts[fracture] == 3 and all(n == 5 for c, n in counts.items() if c != fracture)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_stream(table, scenario="class", seed=0, n_experiences=2, shots=3, **SIZES)


def test_validation_split(tmp_path):
    table = table_of(tmp_path, notes_frame(per_class=30))
    stream = build_stream(table, scenario="class", seed=0, n_experiences=2, train_per_class=10,
                          test_per_class=5, val_per_class=4)
    for e in stream.experiences:
        assert Counter(e.val_labels) == {c: 4 for c in e.classes}
        assert e.n_train == 10 * len(e.classes) and e.n_test == 5 * len(e.classes)
        assert set(e.summary()) == {"id", "classes", "task", "n_train", "n_test"}
    assert_no_overlap(stream)


def test_existing_split_column_is_honoured_and_duplicates_leave_test(tmp_path):
    frame = notes_frame()
    frame["part"] = ["test" if i % 4 == 0 else "train" for i in range(len(frame))]
    leaked = frame[frame["part"] == "train"].iloc[:3].assign(part="test")  # train texts again in test
    frame = pd.concat([frame, leaked], ignore_index=True)
    table = table_of(tmp_path, frame, split_col="part")
    stream = build_stream(table, scenario="class", seed=0, n_experiences=2, train_per_class=100,
                          test_per_class=100)
    assert set(all_texts(stream, "test")) == set(frame.loc[frame["part"] == "test", "note"]) - set(leaked["note"])
    assert set(all_texts(stream, "train")) == set(frame.loc[frame["part"] == "train", "note"])
    assert stream.extra["duplicates_dropped"] == 3
    assert any("3 held-out texts" in n for n in stream.notes)
    assert "duplicates_dropped" in stream.summary()["extra"]


def test_existing_split_from_files_with_validation_held_out(tmp_path):
    frame = notes_frame(per_class=20)
    folder = tmp_path / "split"
    folder.mkdir()
    frame.iloc[::5].to_csv(folder / "test.csv", index=False)
    frame.drop(frame.index[::5]).to_csv(folder / "train.csv", index=False)
    table = load_source(str(folder), text_col="note", label_col="diagnosis")
    stream = build_stream(table, scenario="class", seed=0, n_experiences=3, train_per_class=100,
                          test_per_class=100, val_per_class=2)
    assert set(all_texts(stream, "test")) == set(frame["note"].iloc[::5])
    assert all(e.n_val == 2 * len(e.classes) for e in stream.experiences)
    assert_no_overlap(stream)


def test_conflicting_labels_are_dropped_and_counted(tmp_path):
    frame = notes_frame()
    twin = frame.iloc[[0, 1]].assign(diagnosis="migraine")  # asthma notes, now also migraine
    repeat = frame.iloc[[50]]
    frame = pd.concat([frame, twin, repeat], ignore_index=True)
    table = table_of(tmp_path, frame)
    stream = build_stream(table, scenario="class", seed=0, n_experiences=2, **SIZES)
    assert stream.extra["conflicting_texts_dropped"] == 2 and stream.extra["repeated_texts_dropped"] == 1
    everything = all_texts(stream, "train") + all_texts(stream, "test")
    assert frame["note"].iloc[0] not in everything and len(everything) == len(set(everything))


# --- built-in streams -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blocks():
    return BUILTIN_STREAMS["icd10cm-blocks"].build(seed=0)


@pytest.fixture(scope="module")
def views():
    return BUILTIN_STREAMS["icd10cm-views"].build(seed=0)


def test_icd10cm_blocks(blocks):
    assert blocks.scenario == "task" and blocks.name == "icd10cm-blocks"
    assert [len(e.classes) for e in blocks.experiences] == [15, 12, 9, 8, 11]
    assert blocks.extra["tasks"] == ["Chapter 1", "Chapter 2", "Chapter 5", "Chapter 6", "Chapter 7"]
    for t, e in enumerate(blocks.experiences):
        assert e.task == t and e.classes == list(range(len(e.label_names)))
        assert set(e.train_labels) == set(e.test_labels) == set(e.classes)
        counts = Counter(e.train_labels)
        assert all(40 <= n <= 200 for n in counts.values())  # at least 50 texts, 20% to test
        assert all(n <= 50 for n in Counter(e.test_labels).values())
    assert blocks.experiences[0].label_names[0] == "Intestinal infectious diseases (A00-A09)"
    assert any("Chapter 1: 6 blocks with fewer than 50 texts left out" in n for n in blocks.notes)
    assert_no_overlap(blocks)
    assert blocks.card.licence.startswith("ICD-10-CM is published")


def test_icd10cm_views(views):
    assert views.scenario == "domain" and views.n_classes == 20
    assert views.extra["domains"] == ["code titles", "inclusion terms", "excludes phrases"]
    for e in views.experiences:
        assert e.task == 0 and e.classes == list(range(20))
        assert set(e.train_labels) == set(e.test_labels) == set(range(20))
    assert [e.n_test for e in views.experiences][0] == 1000 and views.experiences[0].n_train == 4000
    assert views.experiences[2].n_train > 1500  # the excludes view is nearly full too
    assert any("chapter 22 left out" in n for n in views.notes)
    assert_no_overlap(views)
    folded = [{t.casefold() for t in e.train_texts + e.test_texts} for e in views.experiences]
    assert not folded[0] & folded[1] and not folded[1] & folded[2] and not folded[0] & folded[2]


def test_builtin_streams_take_validation_shots_and_fewer_experiences():
    for name in ("icd10cm-chapters", "icd10cm-blocks", "icd10cm-views"):
        stream = BUILTIN_STREAMS[name].build(seed=0, n_experiences=2, train_per_class=20,
                                             test_per_class=5, val_per_class=3, shots=4)
        assert len(stream.experiences) == 2
        for e in stream.experiences:
            assert Counter(e.train_labels) == {c: 4 for c in e.classes}
            assert Counter(e.val_labels) == {c: 3 for c in e.classes}
        assert_no_overlap(stream)
    with pytest.raises(DataError, match="at most 17"):
        BUILTIN_STREAMS["icd10cm-blocks"].build(seed=0, n_experiences=18)
    with pytest.raises(DataError, match="class scenario only"):
        BUILTIN_STREAMS["icd10cm-views"].build(seed=0, class_order=[1, 0])


# --- the draws: a stream's texts and labels are pinned, so a refactor that moves a draw fails -------


def digest(stream) -> str:
    """A hash of what a stream holds (sizes, notes, extra, every text and label) but its card,
    which names the file and its date."""
    import hashlib
    import json

    summary = {k: v for k, v in stream.summary().items() if k != "card"}
    # the experiences' class names repeat stream.class_names (hashed below): left out of the summary
    summary["experiences"] = [{k: v for k, v in e.items() if k != "class_names"} for e in summary["experiences"]]
    content = [summary, stream.class_names, stream.class_descriptions]
    for e in stream.experiences:
        content.append([e.train_texts, e.train_labels, e.val_texts, e.val_labels, e.test_texts,
                        e.test_labels, e.label_names])
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def pinned_streams(tmp_path):
    """One stream per path through build_stream: class order drawn, split with validation,
    few-shot, domain, task, groups, and an existing split with capped and held-out sides."""
    frame = notes_frame(per_class=24)
    twins = frame.iloc[[0, 1]].assign(diagnosis="migraine")  # two texts with two labels
    frame = pd.concat([frame, twins, frame.iloc[[50, 70]]], ignore_index=True)  # and two repeats
    frame["part"] = ["test" if i % 4 == 0 else "validation" if i % 7 == 0 else "train"
                     for i in range(len(frame))]
    plain = table_of(tmp_path, frame, name="plain")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield "class", build_stream(plain, scenario="class", seed=3, n_experiences=None,
                                    val_per_class=2, **SIZES)
        yield "shots", build_stream(plain, scenario="class", seed=5, n_experiences=3,
                                    val_per_class=1, shots=4, **SIZES)
    yield "domain", build_stream(table_of(tmp_path, frame, name="d", domain_col="hospital"),
                                 scenario="domain", seed=2, n_experiences=None, val_per_class=1,
                                 **SIZES)
    yield "task", build_stream(table_of(tmp_path, frame, name="t", task_col="hospital"),
                               scenario="task", seed=1, n_experiences=2, **SIZES)
    yield "groups", build_stream(table_of(tmp_path, frame, name="g", group_col="patient"),
                                 scenario="class", seed=1, n_experiences=2, val_per_class=2, **SIZES)
    split = table_of(tmp_path, frame, name="s", split_col="part")
    yield "given-split", build_stream(split, scenario="class", seed=4, n_experiences=2,
                                      train_per_class=9, test_per_class=2, val_per_class=1)
    no_val = table_of(tmp_path, frame.assign(part=frame["part"].replace("validation", "train")),
                      name="s2", split_col="part")
    yield "held-out-val", build_stream(no_val, scenario="class", seed=4, n_experiences=2,
                                       train_per_class=9, test_per_class=2, val_per_class=2)


#: digests of :func:`pinned_streams`; a change here changes every run's data, so it is a new
#: result, never a refactor (the splits follow split_seed 0, whatever seed each stream is built with)
PINNED = {"class": "090efa37732763f5", "shots": "84a2bd96b59905b4", "domain": "94b40e6293cbc2df",
          "task": "5bee8f5f870335cb", "groups": "ca72a5ed6d005171", "given-split": "907af57276368a02",
          "held-out-val": "f9f018c5ab353e54"}


def test_streams_are_pinned(tmp_path):
    assert {name: digest(stream) for name, stream in pinned_streams(tmp_path)} == PINNED


def test_builtin_streams_are_pinned(blocks, views):
    assert digest(blocks) == "cae30e694dc2ea13"
    assert digest(views) == "384f108fece8abe2"
