"""Entity-level and multi-label scores against seqeval and scikit-learn, and the collectors that
pool predictions by key."""
import random

import numpy as np
import pytest
import torch
from seqeval.metrics import classification_report, f1_score
from seqeval.scheme import IOB2
from sklearn.metrics import f1_score as sk_f1
from sklearn.metrics import precision_recall_fscore_support

from continual.evaluation import tagging
from streams.tagging import tag_names, type_of_tag
from continual.evaluation.task_collectors import LabelSetCollector, TagCollector

TYPES = ["diabetes", "neoplasm", "stroke"]
NAMES = tag_names(TYPES)


def _random_tags(rng, n):
    return [rng.randrange(len(NAMES)) for _ in range(n)]


def _strings(seqs):
    return [[NAMES[t] for t in seq] for seq in seqs]


def test_tag_names_and_types():
    assert NAMES == ["O", "B-diabetes", "I-diabetes", "B-neoplasm", "I-neoplasm", "B-stroke", "I-stroke"]
    assert [type_of_tag(t) for t in range(7)] == [None, 0, 0, 1, 1, 2, 2]


def test_entities_are_strict_iob2():
    # B-d I-d | stray I-n | B-s B-s I-s
    tags = [1, 2, 4, 5, 5, 6]
    assert tagging.entities(tags) == {(0, 0, 2), (2, 3, 4), (2, 4, 6)}
    assert tagging.entities([2, 2, 0]) == set()  # no B: no entity in strict mode


@pytest.mark.parametrize("seed", range(5))
def test_entity_counts_agree_with_seqeval_strict(seed):
    rng = random.Random(seed)
    gold = [_random_tags(rng, rng.randrange(1, 12)) for _ in range(40)]
    guess = [_random_tags(rng, len(g)) for g in gold]
    counts = tagging.entity_counts(gold, guess, [0, 1, 2])
    report = classification_report(_strings(gold), _strings(guess), mode="strict", scheme=IOB2,
                                   output_dict=True, zero_division=0)
    ours = tagging.scores(counts)
    for k, name in enumerate(TYPES):
        if name in report:
            assert ours["precision"][k] == pytest.approx(report[name]["precision"])
            assert ours["recall"][k] == pytest.approx(report[name]["recall"])
            assert ours["f1"][k] == pytest.approx(report[name]["f1-score"])
            assert ours["support"][k] == report[name]["support"]
    assert tagging.micro_f1(counts) == pytest.approx(
        f1_score(_strings(gold), _strings(guess), mode="strict", scheme=IOB2, average="micro", zero_division=0))


def test_entity_counts_over_some_types_read_the_others_as_O():
    rng = random.Random(7)
    gold = [_random_tags(rng, 10) for _ in range(30)]
    guess = [_random_tags(rng, 10) for _ in range(30)]

    def only(seqs, keep):
        return [[t if t and type_of_tag(t) in keep else 0 for t in seq] for seq in seqs]

    counts = tagging.entity_counts(gold, guess, [1])
    expected = f1_score(_strings(only(gold, {1})), _strings(only(guess, {1})), mode="strict", scheme=IOB2,
                        average="micro", zero_division=0)
    assert tagging.micro_f1(counts) == pytest.approx(expected)


def test_entity_confusion_rows_sum_to_gold_entities():
    gold = [[1, 2, 0, 3, 4], [5, 6, 0]]
    guess = [[3, 4, 0, 0, 0], [5, 6, 0]]  # diabetes read as neoplasm, neoplasm missed, stroke right
    confusion = tagging.entity_confusion(gold, guess, [0, 1, 2])
    assert confusion == [[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]
    supports = tagging.scores(tagging.entity_counts(gold, guess, [0, 1, 2]))["support"]
    assert [sum(r) for r in confusion] == supports


def test_label_counts_agree_with_scikit_learn():
    rng = np.random.default_rng(3)
    gold = rng.random((50, 6)) < 0.3
    guess = rng.random((50, 6)) < 0.3
    labels = [1, 2, 4]
    counts = tagging.label_counts(gold, guess, labels)
    p, r, f, support = precision_recall_fscore_support(gold, guess, labels=labels, zero_division=0)
    ours = tagging.scores(counts)
    assert ours["precision"] == pytest.approx(list(p))
    assert ours["recall"] == pytest.approx(list(r))
    assert ours["f1"] == pytest.approx(list(f))
    assert ours["support"] == list(support)
    assert tagging.micro_f1(counts) == pytest.approx(sk_f1(gold, guess, labels=labels, average="micro"))


class _Experience:
    def __init__(self, exp_id, stream):
        self.current_experience = exp_id
        self.origin_stream = type("S", (), {"name": stream})()


class _Strategy:
    def __init__(self, exp_id, output, y, batches, stream="test"):
        self.experience = _Experience(exp_id, stream)
        self.mb_output, self.mb_y = output, y
        self.dataloader = type("D", (), {"batch_sampler": batches})()


def test_tag_collector_scores_owned_words_and_pools_each_sentence_once():
    # two experiences: types {0} and {1}; sentence 7 carries both and sits in both test sets
    keys = {"test": [[(7, 0), (8, 0)], [(7, 0)]], "valid": [[], []]}
    collector = TagCollector(keys, [[0], [1]])
    # the model output has 4 positions, units O, B/I-diabetes, B/I-neoplasm
    def logits(tags):
        out = torch.full((len(tags), 4, 5), -5.0)
        for row, seq in enumerate(tags):
            for pos, t in enumerate(seq):
                out[row, pos, t] = 5.0
        return out
    predicted = [[0, 1, 2, 0], [0, 1, 0, 0]]  # sentence 7: diabetes right; sentence 8: a false diabetes
    y = torch.tensor([[-100, 1, 2, 3, -100, -100], [-100, 0, -100, -100, -100, -100]])
    # the evaluation order is not the dataset order: batch [1, 0]
    strategy = _Strategy(0, logits([predicted[1], predicted[0]])[:, :4], y[[1, 0]], [[1, 0]])
    collector.before_eval_exp(strategy)
    collector.after_eval_iteration(strategy)
    assert collector.accuracy(0) == pytest.approx(2 * 1 / (2 * 1 + 1 + 0))
    strategy = _Strategy(1, logits([predicted[0]])[:, :4], y[[0]], [[0]])
    collector.before_eval_exp(strategy)
    collector.after_eval_iteration(strategy)
    assert collector.accuracy(1) == 0.0  # neoplasm (tags 3, 4 at the 3rd word) missed
    classes, counts, confusion = collector.pooled_counts(1)
    assert classes == [0, 1]
    assert counts == [[1, 1, 0], [0, 0, 1]]  # sentence 7 counted once
    assert confusion == [[1, 0, 0], [0, 0, 1]]


def test_label_set_collector_micro_f1_over_own_labels():
    keys = {"test": [[(0, 0), (1, 0)]], "valid": [[]]}
    collector = LabelSetCollector(keys, [[0, 2]])
    output = torch.tensor([[3.0, -3.0, 3.0], [3.0, 3.0, -3.0]])
    y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    strategy = _Strategy(0, output, y, [[0, 1]])
    collector.before_eval_exp(strategy)
    collector.after_eval_iteration(strategy)
    gold = np.array([[1, 0, 1], [0, 1, 1]], dtype=bool)
    guess = np.array([[1, 0, 1], [1, 1, 0]], dtype=bool)
    assert collector.accuracy(0) == pytest.approx(sk_f1(gold, guess, labels=[0, 2], average="micro"))


def test_task_scoped_collectors_read_local_labels_as_the_streams_class_ids():
    from continual.evaluation.task_collectors import LabelSetCollector, TagCollector

    # the second task's local type 0 and 1 are the stream's classes 2 and 3
    tags = TagCollector({"test": []}, [[0, 1], [2, 3]], task_scoped=True)
    assert tags.relabel((0, 1, 2, 3, 4, 0), [2, 3]) == (0, 5, 6, 7, 8, 0)
    labels = LabelSetCollector({"test": []}, [[0, 1], [2, 3]], task_scoped=True)
    assert labels.relabel((0, 1), [2, 3]) == (2, 3)
