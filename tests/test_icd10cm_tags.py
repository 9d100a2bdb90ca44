"""The built-in icd10cm-tags stream: real ICD-10-CM terms as entities in synthetic sentences."""
import pytest

from streams import DataError, validation_view
from streams.icd10cm_tags import GROUPS, group_terms, tag_table
from streams.registry import BUILTIN_STREAMS
from streams.tagging import entity_spans, entity_types, tag_names

from test_scenarios import digest

SPEC = BUILTIN_STREAMS["icd10cm-tags"]


@pytest.fixture(scope="module")
def stream():
    return SPEC.build(seed=0)


def test_registered_as_a_token_stream_that_says_its_contexts_are_synthetic():
    assert SPEC.task_type == "token" and SPEC.scenario == "class" and SPEC.default_experiences == 4
    assert "synthetic" in SPEC.description and "real ICD-10-CM terms" in SPEC.description
    assert BUILTIN_STREAMS["icd10cm-chapters"].task_type == "single-label"


def test_default_shape(stream):
    assert stream.task_type == "token" and stream.class_names == [g[0] for g in GROUPS]
    assert len(stream.experiences) == 4 and all(len(e.classes) == 2 for e in stream.experiences)
    assert sorted(c for e in stream.experiences for c in e.classes) == list(range(8))
    for e in stream.experiences:
        own = set(e.classes)
        assert all(entity_types(t) <= own for t in e.train_labels)
        for k in e.classes:
            train = sum(1 for t in e.train_labels if k in entity_types(t))
            test = sum(1 for t in e.test_labels if k in entity_types(t))
            assert 200 <= train <= 260 and 50 <= test <= 70  # 200 / 50 drawn per type, plus pairs
        negatives = [t for t in e.train_labels if not any(t)]
        assert 0 < len(negatives) <= 200
        assert any(len(entity_types(t)) == 2 for t in e.test_labels)
        assert len(e.test_ids) == e.n_test and e.val_ids == []
    train = {tuple(w) for e in stream.experiences for w in e.train_texts}
    assert not train & {tuple(w) for e in stream.experiences for w in e.test_texts}


def test_entities_are_real_terms_of_their_group(stream):
    terms, _ = group_terms()
    for e in stream.experiences[:2]:
        for words, tags in zip(e.test_texts[:100], e.test_labels[:100]):
            for k, start, end in entity_spans(tags):
                assert tuple(words[start:end]) in terms[k]
    assert all(len(group) >= 30 for group in terms)


def test_deterministic_per_seed_and_pinned(stream):
    again, other = SPEC.build(seed=0), SPEC.build(seed=1)
    assert digest(again) == digest(stream) == "dd3cf79ec05ba449"  # every sentence and tag of the default stream
    assert [e.classes for e in other.experiences] != [e.classes for e in stream.experiences]
    assert {i for e in other.experiences for i in e.test_ids} == {i for e in stream.experiences for i in e.test_ids}
    moved = SPEC.build(seed=0, split_seed=1)
    assert {i for e in moved.experiences for i in e.test_ids} != {i for e in stream.experiences for i in e.test_ids}


def test_labels_are_strict_iob2_for_seqeval(stream):
    from seqeval.metrics.sequence_labeling import get_entities

    names = tag_names(stream.class_names)
    for tags in stream.experiences[0].test_labels[:200]:
        found = [(stream.class_names.index(t), s, end + 1) for t, s, end in get_entities([names[t] for t in tags])]
        assert found == entity_spans(tags)


def test_sizes_validation_and_refusals():
    small = SPEC.build(seed=0, n_experiences=2, train_per_class=10, test_per_class=4, val_per_class=3,
                       class_order=["neoplasm", "diabetes", "cerebrovascular", "heart_disease",
                                    "chronic_lower_respiratory", "kidney_failure", "influenza_pneumonia",
                                    "liver_disease"])
    assert [e.classes for e in small.experiences] == [[1, 0, 2, 3], [4, 5, 6, 7]]
    assert all(e.val_ids and len(e.val_ids) == e.n_val for e in small.experiences)
    assert [v.test_ids for v in validation_view(small).experiences] == [e.val_ids for e in small.experiences]
    with pytest.raises(DataError, match="--shots"):
        SPEC.build(seed=0, shots=5)
    with pytest.raises(DataError, match="--experiences between 1 and 8"):
        SPEC.build(seed=0, n_experiences=9)


def test_table_and_card():
    table, notes = tag_table("icd10cm-tags", "d")
    assert "simple-icd-10-cm" in table.card.source and "templates" in table.card.version
    counts = [0] * len(GROUPS)
    for tags in table.tags:
        for k in entity_types(tags):
            counts[k] += 1
    assert min(counts) >= 400 and sum(1 for t in table.tags if not any(t)) == 600
    assert any("left out" in n for n in notes)
