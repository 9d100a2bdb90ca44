"""Token tagging data: sources (CoNLL, TSV, JSON Lines, datasets), BIO tags, the scenarios of
token streams, and word-piece windows."""
import json
import random

import pytest

from streams import DataError, build_token_stream, detect_task_type, load_token_source, validation_view
from streams.tagging import (TokenTable, entity_spans, entity_types, keep_types, relabel_types, tag_id,
                             tag_names, to_bio, type_of_tag)
from streams.tokenization import IGNORED, plan_windows, tokenize_tagged

from conftest import CARD

TYPES = ["asthma", "diabetes", "fracture", "migraine"]
TERMS = {"asthma": [["bronchial", "asthma"], ["asthma"]], "diabetes": [["type", "2", "diabetes"], ["diabetes"]],
         "fracture": [["hip", "fracture"], ["fracture", "of", "wrist"]], "migraine": [["migraine"], ["migraine", "aura"]]}
FILLER = ["patient", "reports", "with", "and", "the", "of", "severe", "mild", "chronic", "acute", "seen", "today"]


def clean(error) -> str:
    """One line, never a word of the data."""
    message = str(error.value)
    assert "\n" not in message and message.strip() == message
    for word in ("bronchial", "hyperosmolarity", "secretword"):
        assert word not in message
    return message


def tagged_sentences(n: int = 240, seed: int = 0):
    """Synthetic tagged sentences: one entity (types in turn), two entities every seventh, none
    every fifth; every sentence carries a unique number word."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words, tags = [rng.choice(FILLER) for _ in range(rng.randint(1, 4))], []
        tags = ["O"] * len(words)
        types = [] if i % 5 == 4 else [TYPES[i % 4]] + ([TYPES[(i + 1) % 4]] if i % 7 == 0 else [])
        for t in types:
            term = rng.choice(TERMS[t])
            words += term + [rng.choice(FILLER)]
            tags += [f"B-{t}"] + [f"I-{t}"] * (len(term) - 1) + ["O"]
        out.append((words + [f"n{i}"], tags + ["O"]))
    return out


def token_table(n: int = 240, seed: int = 0, **columns) -> TokenTable:
    import pandas as pd

    sentences = tagged_sentences(n, seed)
    frame = pd.DataFrame({"tokens": [w for w, _ in sentences], "tags": [t for _, t in sentences], **columns})
    return load_token_source(frame, **{f"{k}_col": k for k in columns})  # domain=..., task=...


def write_conll(path, sentences, *, docstart=True, sep=" "):
    lines = ["-DOCSTART- -X- O O", ""] if docstart else []
    for words, tags in sentences:
        lines += [f"{w}{sep}{t}" for w, t in zip(words, tags)] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# --- tag ids ---------------------------------------------------------------------------------------


def test_tag_ids_and_names():
    assert tag_names(["asthma", "copd"]) == ["O", "B-asthma", "I-asthma", "B-copd", "I-copd"]
    assert [tag_id("O", 3), tag_id("B", 0), tag_id("I", 0), tag_id("B", 2), tag_id("I", 2)] == [0, 1, 2, 5, 6]
    assert [type_of_tag(t) for t in (0, 1, 2, 5, 6, -100)] == [None, 0, 0, 2, 2, None]
    tags = [0, 1, 2, 0, 3, 4, 4, 5]
    assert entity_types(tags) == {0, 1, 2}
    assert keep_types(tags, {1}) == [0, 0, 0, 0, 3, 4, 4, 0]
    assert relabel_types(tags, {1: 0, 2: 1}) == [0, 0, 0, 0, 1, 2, 2, 3]
    assert entity_spans(tags) == [(0, 1, 3), (1, 4, 7), (2, 7, 8)]


def test_tag_names_are_strict_iob2_for_seqeval():
    from seqeval.metrics import f1_score
    from seqeval.metrics.sequence_labeling import get_entities
    from seqeval.scheme import IOB2

    names = tag_names(TYPES)
    tags = [0, 1, 2, 0, 3, 4, 4, 5, 1]
    strings = [names[t] for t in tags]
    assert f1_score([strings], [strings], mode="strict", scheme=IOB2) == 1.0
    assert [(TYPES.index(t), s, e + 1) for t, s, e in get_entities(strings)] == entity_spans(tags)


def test_io_tags_become_bio():
    assert to_bio(["O", "I-X", "I-X", "I-Y", "X", "X", "O", "B-X", "I-X", "X"]) == \
        ["O", "B-X", "I-X", "B-Y", "B-X", "I-X", "O", "B-X", "I-X", "I-X"]
    with pytest.raises(ValueError, match="tag 2"):
        to_bio(["O", "S-X"])


# --- sources ------------------------------------------------------------------------------------------


def test_conll_file_skips_docstart_and_converts_io(tmp_path):
    sentences = [(["Patient", "has", "type", "2", "diabetes", "."], ["O", "O", "I-diabetes", "I-diabetes", "I-diabetes", "O"]),
                 (["No", "asthma"], ["O", "B-asthma"])]
    path = write_conll(tmp_path / "notes.conll", sentences)
    table = load_token_source(str(path))
    assert table.name == "notes" and table.class_names == ["asthma", "diabetes"]
    assert table.words == [s[0] for s in sentences]
    assert table.tags == [[0, 0, 3, 4, 4, 0], [0, 1]]
    assert table.split is None and table.card.source == str(path)
    assert any("strict BIO" in n for n in table.notes)


def test_two_column_tsv_with_or_without_header(tmp_path):
    sentences = tagged_sentences(6)
    plain = write_conll(tmp_path / "plain.tsv", sentences, docstart=False, sep="\t")
    headed = tmp_path / "headed.tsv"
    headed.write_text("token\ttag\n" + plain.read_text(encoding="utf-8"), encoding="utf-8")
    a, b = load_token_source(str(plain)), load_token_source(str(headed))
    assert a.words == b.words == [w for w, _ in sentences]
    assert a.tags == b.tags
    assert detect_task_type(str(plain)) == "token" and detect_task_type(str(headed)) == "single-label"


def test_jsonl_with_named_columns_domain_and_split(tmp_path):
    sentences = tagged_sentences(20)
    path = tmp_path / "notes.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for i, (words, tags) in enumerate(sentences):
            handle.write(json.dumps({"words": words, "labels": tags, "site": "ab"[i % 2],
                                     "part": "test" if i % 4 == 0 else "train"}) + "\n")
    table = load_token_source(str(path), text_col="words", label_col="labels", domain_col="site", split_col="part")
    assert table.words == [w for w, _ in sentences]
    assert table.domains == ["a", "b"] * 10 and table.split.count("test") == 5
    assert to_bio(sentences[0][1]) == [tag_names(table.class_names)[t] for t in table.tags[0]]
    default = tmp_path / "default.jsonl"
    default.write_text("\n".join(json.dumps({"tokens": w, "tags": t}) for w, t in sentences), encoding="utf-8")
    assert load_token_source(str(default)).tags == table.tags
    assert detect_task_type(str(default)) == "token" and detect_task_type(str(path)) == "single-label"


def test_datasets_sequence_class_label_tags(tmp_path):
    import datasets

    names = ["O", "B-asthma", "I-asthma", "B-diabetes", "I-diabetes"]
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names))})
    train = datasets.Dataset.from_dict({"tokens": [["bronchial", "asthma", "today"], ["ok"]],
                                        "ner_tags": [[1, 2, 0], [0]]}, features=features)
    test = datasets.Dataset.from_dict({"tokens": [["diabetes"]], "ner_tags": [[3]]}, features=features)
    both = datasets.DatasetDict(train=train, test=test)
    table = load_token_source(both)
    assert table.class_names == ["asthma", "diabetes"]
    assert table.tags == [[1, 2, 0], [0], [3]] and table.split == ["train", "train", "test"]
    both.save_to_disk(str(tmp_path / "saved"))
    saved = load_token_source(str(tmp_path / "saved"))
    assert saved.name == "saved" and saved.tags == table.tags
    assert detect_task_type(both) == "token" and detect_task_type(train) == "token"
    renamed = train.rename_columns({"tokens": "words", "ner_tags": "bio"})
    assert load_token_source(renamed, text_col="words", label_col="bio").tags == table.tags[:2]


def test_folder_of_train_and_test_files_and_file_list(tmp_path):
    folder = tmp_path / "ner"
    folder.mkdir()
    write_conll(folder / "train.conll", tagged_sentences(30, seed=1))
    write_conll(folder / "test.conll", tagged_sentences(10, seed=2))
    table = load_token_source(str(folder))
    assert table.split == ["test"] * 10 + ["train"] * 30  # files in name order
    assert detect_task_type(str(folder)) == "token"
    files = f"{folder / 'train.conll'},{folder / 'test.conll'}"
    listed = load_token_source(files)
    assert listed.tasks == ["train"] * 30 + ["test"] * 10 and listed.task_order == ["train", "test"]


def test_detect_task_type():
    assert detect_task_type("notes.csv", task_type="token") == "token"
    assert detect_task_type("notes.csv", label_sep=";") == "multi-label"
    assert detect_task_type("notes.csv") == "single-label"
    with pytest.raises(DataError, match="unknown task type"):
        detect_task_type("notes.csv", task_type="spans")


def test_tokens_and_tags_of_different_lengths_are_refused(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"tokens": ["a", "b"], "tags": ["O", "O"]}) + "\n"
                    + json.dumps({"tokens": ["bronchial", "asthma", "secretword"], "tags": ["B-x", "I-x"]}) + "\n")
    with pytest.raises(DataError) as caught:
        load_token_source(str(path))
    assert clean(caught) == "row 2 of bad.jsonl has 3 tokens and 2 tags: give one tag per token"


def test_unknown_tag_scheme_is_refused(tmp_path):
    path = write_conll(tmp_path / "bioes.conll", [(["bronchial", "asthma"], ["B-asthma", "E-asthma"])])
    with pytest.raises(DataError) as caught:
        load_token_source(str(path))
    assert clean(caught).startswith("unknown tag scheme at token 2 of sentence 1 of bioes.conll")
    numbers = tmp_path / "numbers.jsonl"
    numbers.write_text(json.dumps({"tokens": ["bronchial"], "tags": [1]}) + "\n")
    with pytest.raises(DataError, match="numbers without names") as caught:
        load_token_source(str(numbers))
    clean(caught)


def test_a_source_without_any_entity_is_refused(tmp_path):
    path = write_conll(tmp_path / "empty.conll", [(["secretword", "bronchial"], ["O", "O"])] * 3)
    with pytest.raises(DataError) as caught:
        load_token_source(str(path))
    assert "no sentence of empty has an entity" in clean(caught)


def test_bad_lines_files_and_columns(tmp_path):
    one = tmp_path / "one.conll"
    one.write_text("secretword O\nbronchial\n")
    with pytest.raises(DataError) as caught:
        load_token_source(str(one))
    assert clean(caught).startswith("line 2 of one.conll has one column")
    path = write_conll(tmp_path / "ok.conll", tagged_sentences(4))
    with pytest.raises(DataError, match="--domain-col needs a table") as caught:
        load_token_source(str(path), domain_col="site")
    with pytest.raises(DataError, match="not found"):
        load_token_source(str(tmp_path / "missing.conll"))
    (tmp_path / "notes.xml").write_text("<x/>")
    with pytest.raises(DataError, match="extension"):
        load_token_source(str(tmp_path / "notes.xml"))


# --- streams ----------------------------------------------------------------------------------------


def build(table, **options):
    settings = dict(scenario="class", seed=0, n_experiences=2, train_per_class=20, test_per_class=6)
    return build_token_stream(table, **{**settings, **options})


def test_class_stream_keeps_own_types_in_training_and_every_type_in_test():
    table = token_table()
    stream = build(table, val_per_class=3)
    assert stream.task_type == "token" and stream.summary()["task_type"] == "token"
    assert sorted(c for e in stream.experiences for c in e.classes) == [0, 1, 2, 3]
    row_of = {tuple(w): i for i, w in enumerate(table.words)}
    for e in stream.experiences:
        own = set(e.classes)
        assert all(entity_types(tags) <= own for tags in e.train_labels)  # other types are O
        for words, tags in zip(e.train_texts, e.train_labels):
            assert tags == keep_types(table.tags[row_of[tuple(words)]], own)
        for side in ("test", "val"):
            texts, labels, ids = (getattr(e, f"{side}_{part}") for part in ("texts", "labels", "ids"))
            assert [row_of[tuple(w)] for w in texts] == ids  # ids are source rows
            assert all(labels[k] == table.tags[i] for k, i in enumerate(ids))  # gold kept whole
            assert all(entity_types(t) & own or not entity_types(t) for t in labels)
    # other experiences' (also future) types stay in the test labels
    future = set(stream.experiences[1].classes)
    assert any(entity_types(t) & future for t in stream.experiences[0].test_labels)


def test_class_stream_test_sets_are_the_sentences_carrying_their_types():
    table = token_table()
    stream = build(table)
    all_test = {i for e in stream.experiences for i in e.test_ids}
    for e in stream.experiences:
        carrying = {i for i in all_test if entity_types(table.tags[i]) & set(e.classes)}
        negatives = {i for i in e.test_ids if not entity_types(table.tags[i])}
        assert set(e.test_ids) == carrying | negatives and negatives
    shared = set(stream.experiences[0].test_ids) & set(stream.experiences[1].test_ids)
    assert shared and all(len(entity_types(table.tags[i])) == 2 for i in shared)
    # the held-out examples do not depend on the class order (run seed)
    other = build(table, seed=3, class_order=["migraine", "fracture", "diabetes", "asthma"])
    assert {i for e in other.experiences for i in e.test_ids} == all_test


def test_caps_count_sentences_per_type_and_negatives_are_kept():
    table = token_table(600)
    stream = build(table, train_per_class=15, test_per_class=5)
    for e in stream.experiences:
        for side, cap in (("train", 15), ("test", 5)):
            labels = e.train_labels if side == "train" else [table.tags[i] for i in e.test_ids]
            for k in e.classes:
                carrying = sum(1 for t in labels if k in entity_types(t))
                assert cap <= carrying <= 2 * cap  # up to N drawn for k, others' draws may carry k
            assert sum(1 for t in labels if not entity_types(t)) == cap  # negatives, at most N
    train = [tuple(w) for e in stream.experiences for w in e.train_texts]
    assert len(train) == len(set(train))  # a training sentence goes to one experience
    test = {tuple(w) for e in stream.experiences for w in e.test_texts}
    assert not test & set(train)


def test_class_stream_is_deterministic_per_seed():
    table = token_table()
    a, b, c = build(table), build(table), build(table, seed=1)
    assert [e.train_texts for e in a.experiences] == [e.train_texts for e in b.experiences]
    assert [e.test_ids for e in a.experiences] == [e.test_ids for e in b.experiences]
    assert [e.classes for e in a.experiences] != [e.classes for e in c.experiences]
    ordered = build(table, class_order=["diabetes", "asthma", "migraine", "fracture"])
    assert [e.classes for e in ordered.experiences] == [[1, 0], [3, 2]]
    with pytest.raises(DataError, match="--class-order names 'copd'"):
        build(table, class_order=["copd", "asthma", "migraine", "fracture"])


def test_domain_and_task_scenarios():
    n = 240
    table = token_table(n, domain=[["north", "south"][i % 2] for i in range(n)],
                        task=[["ward", "clinic"][i % 3 == 0] for i in range(n)])
    domain = build(table, scenario="domain", n_experiences=None)
    assert domain.extra["domains"] == ["north", "south"]
    for e in domain.experiences:
        assert e.classes == [0, 1, 2, 3] and e.task == 0 and e.label_names is None
        assert all(table.domains[i] == domain.extra["domains"][e.id] for i in e.test_ids)
        assert [table.tags[i] for i in e.test_ids] == e.test_labels
    task = build(table, scenario="task", n_experiences=None)
    assert [e.task for e in task.experiences] == [0, 1] and task.extra["tasks"] == ["clinic", "ward"]
    for e in task.experiences:
        assert e.label_names == TYPES and e.classes == [0, 1, 2, 3]
        names = [f"{task.extra['tasks'][e.id]}: {t}" for t in TYPES]
        assert task.class_names[4 * e.id: 4 * e.id + 4] == names
        assert [table.tags[i] for i in e.test_ids] == e.test_labels  # all types: local = global here
    with pytest.raises(DataError, match="needs a domain column"):
        build(token_table(), scenario="domain")


def test_task_scenario_numbers_each_tasks_types_from_zero():
    import pandas as pd

    rows = [(["a", f"w{i}", "fracture"], ["O", "O", "B-fracture"], "ortho") for i in range(12)]
    rows += [(["b", f"w{i}", "asthma", "x"], ["O", "O", "B-asthma", "O"], "resp") for i in range(12)]
    rows += [(["c", f"w{i}", "diabetes"], ["O", "O", "B-diabetes"], "resp") for i in range(12)]
    frame = pd.DataFrame(rows, columns=["tokens", "tags", "team"])
    table = load_token_source(frame, task_col="team")
    stream = build(table, scenario="task", n_experiences=None)
    ortho, resp = stream.experiences
    assert ortho.label_names == ["fracture"] and resp.label_names == ["asthma", "diabetes"]
    assert {t[2] for t in ortho.train_labels} == {1}
    assert {t[2] for t in resp.train_labels} == {1, 3}
    assert stream.class_names == ["ortho: fracture", "resp: asthma", "resp: diabetes"]


def test_validation_view_carries_the_validation_ids():
    stream = build(token_table(), val_per_class=3)
    view = validation_view(stream)
    assert view.task_type == "token"
    for e, v in zip(stream.experiences, view.experiences):
        assert v.test_ids == e.val_ids and v.test_labels == e.val_labels and e.val_ids
        assert not set(e.val_ids) & set(e.test_ids)


def test_repeated_and_conflicting_sentences(tmp_path):
    sentences = tagged_sentences(60)
    sentences += [sentences[0], sentences[1]]  # repeated, same tags
    words, tags = sentences[2]
    sentences.append((words, ["O"] * len(words)))  # repeated with other tags
    path = write_conll(tmp_path / "rep.conll", sentences)
    stream = build(load_token_source(str(path)))
    assert stream.extra["repeated_texts_dropped"] == 2 and stream.extra["conflicting_texts_dropped"] == 2
    texts = [tuple(w) for e in stream.experiences for w in e.train_texts + e.test_texts]
    assert tuple(words) not in texts


# --- word pieces and windows ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "type", "2", "diabetes", "hyper", "##osm",
             "##olar", "##ity", "with", "coma", "the", "patient", "has", ".", "a", "b", "c", "d"]
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return BertTokenizerFast(vocab=str(path))


def test_first_piece_of_each_word_carries_its_tag(tokenizer):
    words = [["Patient", "has", "hyperosmolarity", "with", "type", "2", "diabetes", "zebra"]]
    tags = [[0, 0, 1, 0, 3, 4, 4, 0]]
    windows = tokenize_tagged(words, tags, tokenizer, max_length=32, stride=4)
    assert len(windows.input_ids) == 1 and windows.source == [0] and windows.cut_entities == 0
    ids, labels = windows.input_ids[0], windows.labels[0]
    assert tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "patient", "has", "hyper", "##osm", "##olar",
                                                    "##ity", "with", "type", "2", "diabetes", "[UNK]", "[SEP]"]
    assert labels == [IGNORED, 0, 0, 1, IGNORED, IGNORED, IGNORED, 0, 3, 4, 4, 0, IGNORED]
    assert windows.owned[0] == [label != IGNORED for label in labels]


def test_long_sentences_are_windows_that_never_cut_an_entity(tokenizer):
    rng = random.Random(0)
    words, tags = [], []
    for _ in range(30):
        sentence, sentence_tags = [], []
        while len(sentence) < 40:
            if rng.random() < 0.3:
                length = rng.randint(1, 4)
                sentence += ["hyperosmolarity"] * length
                sentence_tags += [tag_id("B", 1)] + [tag_id("I", 1)] * (length - 1)
            else:
                sentence.append(rng.choice(["a", "b", "the", "patient"]))
                sentence_tags.append(0)
        words.append(sentence)
        tags.append(sentence_tags)
    windows = tokenize_tagged(words, tags, tokenizer, max_length=24, stride=6)
    assert windows.cut_entities == 0 and all(len(ids) <= 24 for ids in windows.input_ids)
    for s, (sentence, sentence_tags) in enumerate(zip(words, tags)):
        mine = [w for w, source in enumerate(windows.source) if source == s]
        assert len(mine) > 1
        owned = [label for w in mine for label, own in zip(windows.labels[w], windows.owned[w]) if own]
        assert owned == sentence_tags  # each word once, in order, from the window that owns it
        for w in mine:  # no window starts inside an entity
            first = next(label for label in windows.labels[w] if label != IGNORED)
            assert first == 0 or first % 2 == 1


def test_plan_windows():
    tags = [0, 0, 0, 1, 2, 2, 0, 0, 0, 0]
    assert plan_windows([1] * 10, tags, budget=20, stride=4) == ([(0, 10)], [0] * 10, 0)
    windows, owner, cut = plan_windows([1] * 10, tags, budget=4, stride=2)
    assert cut == 0 and windows[0][0] == 0 and windows[-1][1] == 10
    assert all(end - start <= 4 for start, end in windows)
    assert all(tags[start] != 2 and (end == 10 or tags[end] != 2) for start, end in windows)
    assert owner == sorted(owner)
    assert len({owner[i] for i in (3, 4, 5)}) == 1  # an entity is owned by one window
    # an entity longer than a window is the one case that is cut, and it is counted
    windows, owner, cut = plan_windows([1] * 8, [0, 1, 2, 2, 2, 2, 2, 0], budget=3, stride=1)
    assert cut >= 1 and windows[-1][1] == 8 and owner == sorted(owner)


def test_a_given_split_is_honoured_and_validation_is_held_out_of_training(tmp_path):
    folder = tmp_path / "ner"
    folder.mkdir()
    train, test = tagged_sentences(200, seed=1), tagged_sentences(60, seed=2)
    test.append(train[0])  # a training sentence again in the test file
    write_conll(folder / "train.conll", train)
    write_conll(folder / "test.conll", test)
    table = load_token_source(str(folder))
    stream = build(table, train_per_class=100, test_per_class=100, val_per_class=4)
    test_side = {tuple(w) for w, _ in test} - {tuple(train[0][0])}
    assert {tuple(w) for e in stream.experiences for w in e.test_texts} == test_side
    train_side = {tuple(w) for e in stream.experiences for w in e.train_texts + e.val_texts}
    assert train_side <= {tuple(w) for w, _ in train} and stream.extra["duplicates_dropped"] == 1
    assert all(e.val_ids for e in stream.experiences)
