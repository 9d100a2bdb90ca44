import numpy as np
import pytest

from streams.registry import BUILTIN_STREAMS
from streams.splits import split_classes, split_three_ways

from conftest import synthetic_records, synthetic_stream
from test_scenarios import digest


def test_split_classes_keeps_every_class_once():
    groups = split_classes(list(range(21)), 5)
    assert [len(g) for g in groups] == [5, 4, 4, 4, 4]
    assert sorted(c for g in groups for c in g) == list(range(21))


def test_split_classes_refuses_more_experiences_than_classes():
    with pytest.raises(ValueError, match="--experiences"):
        split_classes([0, 1, 2], 4)


def test_split_three_ways_caps_and_disjoint():
    labels = [0] * 30 + [1] * 5
    train, val, test = split_three_ways(labels, train_per_class=10, test_per_class=4,
                                        rng=np.random.default_rng(0))
    assert not set(train) & set(test) and val == []
    assert sum(labels[i] == 0 for i in train) == 10 and sum(labels[i] == 0 for i in test) == 4
    # a small class keeps what it has: 1 test, 4 train
    assert sum(labels[i] == 1 for i in test) == 1 and sum(labels[i] == 1 for i in train) == 4


def test_synthetic_stream_is_deterministic_per_seed():
    a, b, c = synthetic_stream(seed=0), synthetic_stream(seed=0), synthetic_stream(seed=1)
    assert [e.summary() for e in a.experiences] == [e.summary() for e in b.experiences]
    assert [e.train_texts for e in a.experiences] == [e.train_texts for e in b.experiences]
    assert [e.classes for e in a.experiences] != [e.classes for e in c.experiences]


@pytest.fixture(scope="module")
def chapters():
    return BUILTIN_STREAMS["icd10cm-chapters"].build(seed=0)


def test_icd10cm_chapters_shape(chapters):
    assert chapters.scenario == "class"
    assert chapters.n_classes == 21
    assert len(chapters.experiences) == 5
    classes = [c for e in chapters.experiences for c in e.classes]
    assert sorted(classes) == list(range(21))  # every class in exactly one experience
    for e in chapters.experiences:
        assert set(e.train_labels) == set(e.classes) == set(e.test_labels)
        assert e.n_train == 200 * len(e.classes) and e.n_test == 50 * len(e.classes)
    assert any("chapter 22 left out" in n for n in chapters.notes)


def test_icd10cm_chapters_no_text_in_train_and_test(chapters):
    train = {t for e in chapters.experiences for t in e.train_texts}
    test = {t for e in chapters.experiences for t in e.test_texts}
    assert not train & test
    # and no text carries two labels
    labelled = {}
    for e in chapters.experiences:
        for t, y in zip(e.train_texts + e.test_texts, e.train_labels + e.test_labels):
            assert labelled.setdefault(t, y) == y


def test_icd10cm_chapters_is_pinned(chapters):
    assert digest(chapters) == "46faf9a09bdb17d0"  # every text and label of the default stream


def test_icd10cm_chapters_deterministic_and_seeded(chapters):
    again = BUILTIN_STREAMS["icd10cm-chapters"].build(seed=0)
    other = BUILTIN_STREAMS["icd10cm-chapters"].build(seed=1)
    assert [e.train_texts for e in again.experiences] == [e.train_texts for e in chapters.experiences]
    assert [e.classes for e in other.experiences] != [e.classes for e in chapters.experiences]


def test_icd10cm_chapters_experiences_and_caps():
    stream = BUILTIN_STREAMS["icd10cm-chapters"].build(seed=0, n_experiences=3, train_per_class=7, test_per_class=2)
    assert [len(e.classes) for e in stream.experiences] == [7, 7, 7]
    assert all(e.n_train == 7 * 7 and e.n_test == 7 * 2 for e in stream.experiences)
    with pytest.raises(ValueError):
        BUILTIN_STREAMS["icd10cm-chapters"].build(seed=0, n_experiences=22)


def test_given_class_order_is_used():
    from streams.builders import build_stream
    from streams.sources import SourceTable

    from conftest import CARD

    table = SourceTable.from_records(synthetic_records(), name="synthetic", card=CARD)
    stream = build_stream(table, scenario="class", seed=0, n_experiences=3, train_per_class=5, test_per_class=2,
                          class_order=[5, 4, 3, 2, 1, 0])
    assert [e.classes for e in stream.experiences] == [[5, 4], [3, 2], [1, 0]]


def test_long_texts_are_reported_once_by_the_run_not_by_the_tokenizer(tiny_model_dir):
    """Tokenizing whole texts to count the truncated ones must not emit transformers' warning
    about sequences longer than the model's maximum (the run prints the truncated share)."""
    import logging

    from continual.model import load_encoder_and_tokenizer
    from streams.tokenization import tokenize_texts

    class Records(logging.Handler):
        def __init__(self):
            super().__init__()
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    def fresh():  # the library warns once per tokenizer: each check gets its own
        tokenizer = load_encoder_and_tokenizer(tiny_model_dir)[1]
        tokenizer.model_max_length = 8
        return tokenizer

    seen = Records()
    library = logging.getLogger("transformers")
    library.addHandler(seen)
    try:
        fresh()("asthma wheeze " * 20)  # the library's own warning, as tokenizing alone gives it
        assert sum("longer than the specified maximum" in m for m in seen.messages) == 1
        seen.messages.clear()
        packed = tokenize_texts(["asthma wheeze " * 20, "rash"], fresh(), max_length=8, cache_dir=None)
    finally:
        library.removeHandler(seen)
    assert packed.truncated_share == 0.5
    assert not [m for m in seen.messages if "longer than the specified maximum" in m]
