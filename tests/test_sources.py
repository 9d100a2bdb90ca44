"""Reading user data into a SourceTable: formats, folders, splits, labels, and bad-data errors."""
import json

import pandas as pd
import pytest

from streams import DataError
from streams.sources import UNKNOWN_LICENCE, load_source, looks_like_path

from conftest import CLASS_WORDS, synthetic_records


def notes_frame(per_class: int = 14, seed: int = 0) -> pd.DataFrame:
    """Synthetic notes: six string labels, three hospitals, patients with several notes each."""
    records = synthetic_records(per_class, seed)
    names = list(CLASS_WORDS)
    n = len(records)
    return pd.DataFrame({
        "note": records.texts,
        "diagnosis": [names[y] for y in records.labels],
        "code": records.labels,
        "hospital": [["north", "south", "east"][i % 3] for i in range(n)],
        "patient": [f"p{(i * 7) % (n // 3)}" for i in range(n)],
    })


def assert_clean_error(error: DataError, frame: pd.DataFrame = None) -> str:
    """One line, and no input text in it."""
    message = str(error)
    assert "\n" not in message and message.strip() == message
    for text in ([] if frame is None else frame["note"].dropna().astype(str)):
        assert text not in message
    return message


def test_csv_integer_labels(tmp_path):
    frame = notes_frame()
    frame.to_csv(tmp_path / "mimic_notes.csv", index=False)
    table = load_source(str(tmp_path / "mimic_notes.csv"), text_col="note", label_col="code")
    assert table.name == "mimic_notes"
    assert table.texts == frame["note"].tolist()
    assert table.labels == frame["code"].tolist()
    assert table.class_names == [str(i) for i in range(6)]
    assert table.split is None and table.domains is None and table.tasks is None
    assert table.card.source == str(tmp_path / "mimic_notes.csv")
    assert table.card.version.startswith("file modified ")
    assert table.card.licence == UNKNOWN_LICENCE and table.card.citation == ""


def test_jsonl_string_labels_map_in_sorted_order(tmp_path):
    frame = notes_frame()
    frame.to_json(tmp_path / "notes.jsonl", orient="records", lines=True)
    table = load_source(str(tmp_path / "notes.jsonl"), text_col="note", label_col="diagnosis",
                        domain_col="hospital", group_col="patient")
    assert table.class_names == sorted(CLASS_WORDS)
    assert [table.label_values[y] for y in table.labels] == frame["diagnosis"].tolist()
    assert table.domains == frame["hospital"].tolist() and table.groups == frame["patient"].tolist()


def test_parquet_and_json_array(tmp_path):
    frame = notes_frame()
    frame.to_parquet(tmp_path / "notes.parquet")
    frame.to_json(tmp_path / "array.json", orient="records")
    for path in ("notes.parquet", "array.json"):
        table = load_source(str(tmp_path / path), text_col="note", label_col="code")
        assert len(table) == len(frame) and table.labels == frame["code"].tolist()


def test_folder_is_concatenated_or_split_by_file_names(tmp_path):
    frame = notes_frame()
    plain = tmp_path / "plain"
    plain.mkdir()
    frame.iloc[:40].to_csv(plain / "part1.csv", index=False)
    frame.iloc[40:].to_json(plain / "part2.jsonl", orient="records", lines=True)
    table = load_source(str(plain), text_col="note", label_col="code")
    assert table.name == "plain" and table.texts == frame["note"].tolist() and table.split is None

    split = tmp_path / "split"
    split.mkdir()
    frame.iloc[:60].to_csv(split / "train.csv", index=False)
    frame.iloc[60:].to_csv(split / "test.csv", index=False)
    table = load_source(str(split), text_col="note", label_col="code")
    assert table.split == ["test"] * (len(frame) - 60) + ["train"] * 60  # files in name order


def test_save_to_disk_dataset_dict_keeps_its_split_and_class_label_names(tmp_path):
    import datasets

    frame = notes_frame()
    features = datasets.Features({"note": datasets.Value("string"),
                                  "code": datasets.ClassLabel(names=list(CLASS_WORDS))})
    parts = {"train": frame.iloc[:60], "test": frame.iloc[60:]}
    saved = datasets.DatasetDict({k: datasets.Dataset.from_pandas(v[["note", "code"]], features=features,
                                                                   preserve_index=False)
                                  for k, v in parts.items()})
    saved.save_to_disk(str(tmp_path / "saved"))
    table = load_source(str(tmp_path / "saved"), text_col="note", label_col="code")
    assert table.name == "saved"
    assert sorted(table.split) == sorted(["train"] * 60 + ["test"] * (len(frame) - 60))
    assert table.class_names == list(CLASS_WORDS)
    assert table.card.version.startswith("fingerprint ")

    saved["train"].save_to_disk(str(tmp_path / "one"))
    table = load_source(str(tmp_path / "one"), text_col="note", label_col="code")
    assert table.split is None and len(table) == 60


def test_hub_dataset_name_and_its_failure(monkeypatch):
    import datasets

    frame = notes_frame()
    loaded = datasets.DatasetDict({"train": datasets.Dataset.from_pandas(frame.iloc[:60], preserve_index=False),
                                   "test": datasets.Dataset.from_pandas(frame.iloc[60:], preserve_index=False)})
    monkeypatch.setattr(datasets, "load_dataset", lambda name: loaded)
    table = load_source("someone/mtsamples", text_col="note", label_col="diagnosis")
    assert table.name == "mtsamples" and table.card.source == "someone/mtsamples"
    assert table.split.count("train") == 60

    def offline(name):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError) as caught:
        load_source("someone/mtsamples", text_col="note", label_col="diagnosis")
    assert "check the name" in assert_clean_error(caught.value)


def test_files_list_gives_one_task_per_file_in_given_order(tmp_path):
    frame = notes_frame()
    frame.iloc[:40].to_csv(tmp_path / "radiology.csv", index=False)
    frame.iloc[40:].to_csv(tmp_path / "cardiology.csv", index=False)
    table = load_source(f"{tmp_path / 'radiology.csv'},{tmp_path / 'cardiology.csv'}",
                        text_col="note", label_col="code")
    assert table.tasks == ["radiology"] * 40 + ["cardiology"] * (len(frame) - 40)
    assert table.task_order == ["radiology", "cardiology"]
    assert table.name == "radiology+cardiology"


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_label_names_file(tmp_path, kind):
    frame = notes_frame()
    frame.to_csv(tmp_path / "notes.csv", index=False)
    names = {"0": "Asthma", "1": "Diabetes mellitus", "4": "Anaemia", "99": "never used"}
    if kind == "csv":
        pd.DataFrame({"value": list(names), "name": list(names.values())}).to_csv(tmp_path / "names.csv", index=False)
    else:
        (tmp_path / "names.json").write_text(json.dumps(names))
    table = load_source(str(tmp_path / "notes.csv"), text_col="note", label_col="code",
                        label_names=str(tmp_path / f"names.{kind}"))
    assert table.class_names == ["Asthma", "Diabetes mellitus", "2", "3", "Anaemia", "5"]


def test_blank_texts_and_missing_labels_are_dropped_and_counted(tmp_path):
    frame = notes_frame()
    frame.loc[[0, 5], "note"] = None
    frame.loc[7, "note"] = "   "
    frame.loc[[1, 2], "code"] = None  # the column becomes float: 3.0 still reads as label 3
    frame.to_csv(tmp_path / "notes.csv", index=False)
    table = load_source(str(tmp_path / "notes.csv"), text_col="note", label_col="code")
    assert table.dropped["blank_texts"] == 3 and table.dropped["missing_labels"] == 2
    assert len(table) == len(frame) - 5
    assert table.class_names == [str(i) for i in range(6)]
    assert any("3 rows dropped: blank texts" == n for n in table.notes)


@pytest.mark.parametrize("name, is_path", [
    ("/data/notes.csv", True), ("./model", True), ("../model", True), (".", True),
    ("~/notes", True), ("notes.csv", True), ("notes.JSONL", True), ("a/b/c", True),
    ("local/model", True),  # 'local' is a folder in the working directory
    ("bert-base-uncased", False), ("someone/mtsamples", False),
    ("sentence-transformers/all-MiniLM-L6-v2", False), ("Qwen/Qwen2.5-0.5B", False),
])
def test_looks_like_path(tmp_path, monkeypatch, name, is_path):
    (tmp_path / "local").mkdir()
    monkeypatch.chdir(tmp_path)
    assert looks_like_path(name) is is_path


# --- bad data: one line, the problem and the fix, no input text ------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(DataError) as caught:
        load_source(str(tmp_path / "nowhere.csv"), text_col="note", label_col="code")
    assert "not found" in assert_clean_error(caught.value)
    with pytest.raises(DataError) as caught:
        load_source(f"{tmp_path / 'a.csv'},{tmp_path / 'b.csv'}", text_col="note", label_col="code")
    assert "not found" in assert_clean_error(caught.value)


def test_unreadable_formats(tmp_path):
    frame = notes_frame()
    frame.to_csv(tmp_path / "notes.txt", index=False)
    (tmp_path / "broken.parquet").write_text("\n".join(frame["note"]))
    (tmp_path / "empty.csv").write_text("")
    for name, expected in (("notes.txt", "extension"), ("broken.parquet", "cannot read"),
                           ("empty.csv", "empty")):
        with pytest.raises(DataError) as caught:
            load_source(str(tmp_path / name), text_col="note", label_col="code")
        assert expected in assert_clean_error(caught.value, frame)


def test_missing_column_lists_the_available_ones(tmp_path):
    frame = notes_frame()
    frame.to_csv(tmp_path / "notes.csv", index=False)
    with pytest.raises(DataError) as caught:
        load_source(str(tmp_path / "notes.csv"), text_col="text", label_col="code")
    message = assert_clean_error(caught.value, frame)
    assert "'text'" in message and "--text-col" in message
    assert "note, diagnosis, code, hospital, patient" in message


def test_blank_text_column(tmp_path):
    frame = notes_frame()
    frame["empty"] = None
    frame.to_csv(tmp_path / "notes.csv", index=False)
    with pytest.raises(DataError) as caught:
        load_source(str(tmp_path / "notes.csv"), text_col="empty", label_col="code")
    assert "blank in every row" in assert_clean_error(caught.value, frame)


def test_mixed_label_types(tmp_path):
    frame = notes_frame()
    rows = frame[["note", "code"]].to_dict("records")
    rows[3]["code"] = "asthma"
    (tmp_path / "notes.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(DataError) as caught:
        load_source(str(tmp_path / "notes.jsonl"), text_col="note", label_col="code")
    message = assert_clean_error(caught.value, frame)
    assert "mixes numbers and strings" in message and "row 4" in message


def test_bad_split_values_and_label_names_file(tmp_path):
    frame = notes_frame()
    frame["split"] = "train"
    frame.loc[9, "split"] = "holdout"
    frame.to_csv(tmp_path / "notes.csv", index=False)
    with pytest.raises(DataError) as caught:
        load_source(str(tmp_path / "notes.csv"), text_col="note", label_col="code", split_col="split")
    assert "row 10" in assert_clean_error(caught.value, frame)
    with pytest.raises(DataError) as caught:
        load_source(str(tmp_path / "notes.csv"), text_col="note", label_col="code",
                    label_names=str(tmp_path / "names.csv"))
    assert "--label-names" in assert_clean_error(caught.value, frame)


def test_no_label_at_all(tmp_path):
    frame = notes_frame()
    frame["code"] = None
    frame.to_csv(tmp_path / "notes.csv", index=False)
    with pytest.raises(DataError) as caught:
        load_source(str(tmp_path / "notes.csv"), text_col="note", label_col="code")
    assert "--label-col" in assert_clean_error(caught.value, frame)


def test_a_file_in_another_encoding_is_refused_with_the_flag_that_reads_it(tmp_path):
    from streams import DataError, load_source

    path = tmp_path / "notes.csv"
    rows = ["text,label"] + [f"douleur thoracique caf\u00e9 {i},chest" for i in range(4)] + \
        [f"fi\u00e8vre et toux {i},fever" for i in range(4)]
    path.write_bytes("\n".join(rows).encode("latin-1"))
    with pytest.raises(DataError, match=r"it is not utf-8 text .*give its encoding with --encoding"):
        load_source(str(path), text_col="text", label_col="label")
    table = load_source(str(path), text_col="text", label_col="label", encoding="latin-1")
    assert "douleur thoracique caf\u00e9 0" in table.texts and "fi\u00e8vre et toux 0" in table.texts
    with pytest.raises(DataError, match="--encoding klingon is not a text encoding"):
        load_source(str(path), text_col="text", label_col="label", encoding="klingon")
