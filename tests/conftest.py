"""Shared fixtures: a tiny random BERT saved as a local model folder, and synthetic streams of
the three scenarios that it learns within a few optimiser steps (see ``TINY_TRAINING``)."""
from __future__ import annotations

import os
import random

import pytest

from streams import Records, SourceCard, Stream
from streams.builders import build_stream
from streams.sources import SourceTable

#: every process this test session starts (Ray's raylet, GCS and workers included) inherits this
#: variable, so the tests that check no Ray process outlives them count their own processes only,
#: not those of other Ray programs on the machine
TEST_SESSION_MARK = ("CONTINUAL_TEST_SESSION", str(os.getpid()))
os.environ[TEST_SESSION_MARK[0]] = TEST_SESSION_MARK[1]

# Six "diagnoses", each with its own words, so a tiny model can learn something in one step.
CLASS_WORDS = {
    "asthma": ["wheeze", "inhaler", "bronchial", "airway"],
    "diabetes": ["glucose", "insulin", "thirst", "sugar"],
    "fracture": ["bone", "cast", "xray", "break"],
    "migraine": ["headache", "aura", "light", "nausea"],
    "anemia": ["pale", "iron", "fatigue", "hemoglobin"],
    "dermatitis": ["rash", "itch", "skin", "eczema"],
}
FILLER = ["patient", "reports", "with", "and", "the", "of", "severe", "mild", "chronic", "acute"]
CARD = SourceCard("synthetic", "tiny synthetic stream for tests", "tests/conftest.py", "1", "MIT", "none")
#: Per-class sizes of the synthetic streams: every experience is tested on every one of its classes.
TRAIN_PER_CLASS, TEST_PER_CLASS = 10, 6
#: Texts made per class: the split gives at most a fifth of a class to its test set.
PER_CLASS = 32
#: Training settings at which naive learns each synthetic experience well above chance
#: (tests/test_learnable.py asserts it); tests that compare metrics between runs use them so
#: that they compare learned models, not noise.
TINY_TRAINING = {"batch_size": 8, "eval_batch_size": 16, "lr": 1e-2, "epochs": 2}


def synthetic_records(per_class: int = 14, seed: int = 0) -> Records:
    rng = random.Random(seed)
    texts, labels = [], []
    for label, (name, words) in enumerate(CLASS_WORDS.items()):
        seen = set()
        while len(seen) < per_class:
            n = rng.randint(3, 9)
            text = " ".join(rng.choice(words + FILLER[: rng.randint(1, 9)]) for _ in range(n)) + f" {name}"
            if text not in seen:
                seen.add(text)
                texts.append(text)
                labels.append(label)
    return Records(texts, labels, list(CLASS_WORDS), [f"a disease called {n}" for n in CLASS_WORDS])


def write_notes(path):
    """A small text,label CSV of the synthetic records (for tests that need a --data file)."""
    import csv

    records = synthetic_records(per_class=PER_CLASS)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(records.texts, [records.class_names[y] for y in records.labels]))
    return path


def synthetic_stream(seed: int = 0, n_experiences: int = 3, per_class: int = PER_CLASS,
                     val_per_class: int = 0) -> Stream:
    """Six diagnoses in ``n_experiences`` class-incremental experiences (class order from ``seed``)."""
    table = SourceTable.from_records(synthetic_records(per_class), name="synthetic", card=CARD)
    return build_stream(table, scenario="class", seed=seed, n_experiences=n_experiences,
                        train_per_class=TRAIN_PER_CLASS, test_per_class=TEST_PER_CLASS, val_per_class=val_per_class,
                        name="synthetic-class", description="tiny synthetic stream")


def synthetic_domain_stream(seed: int = 0) -> Stream:
    """Three 'sites' writing the same three diagnoses (one label space), each site with its own
    pair of each diagnosis' words, so the sites differ and every site's test set holds every class."""
    rng = random.Random(seed)
    names = list(CLASS_WORDS)[:3]
    texts, labels, domains = [], [], []
    for site in range(3):
        for label, name in enumerate(names):
            words = CLASS_WORDS[name][site: site + 2]
            seen = set()
            while len(seen) < PER_CLASS:
                n = rng.randint(3, 8)
                text = " ".join(rng.choice(words + FILLER[: rng.randint(1, 6)]) for _ in range(n))
                if text not in seen and any(word in text.split() for word in words):
                    seen.add(text)
                    texts.append(text)
                    labels.append(label)
                    domains.append(f"site{site}")
    records = Records(texts, labels, names, [f"a disease called {n}" for n in names])
    table = SourceTable.from_records(records, name="synthetic", card=CARD, domains=domains)
    return build_stream(table, scenario="domain", seed=seed, n_experiences=None,
                        train_per_class=TRAIN_PER_CLASS, test_per_class=TEST_PER_CLASS,
                        name="synthetic-domain", description="three sites")


def synthetic_task_stream(seed: int = 0) -> Stream:
    """Three tasks of two diagnoses each, labels local to each task (0, 1)."""
    records = synthetic_records(per_class=PER_CLASS, seed=seed)
    tasks = [f"task{label // 2}" for label in records.labels]
    table = SourceTable.from_records(records, name="synthetic", card=CARD, tasks=tasks)
    return build_stream(table, scenario="task", seed=seed, n_experiences=None,
                        train_per_class=TRAIN_PER_CLASS, test_per_class=TEST_PER_CLASS,
                        name="synthetic-task", description="three tasks")


SYNTHETIC_STREAMS = {"class": synthetic_stream, "domain": synthetic_domain_stream, "task": synthetic_task_stream}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A random BertConfig(vocab 99, hidden 32, 2 layers, 4 heads) with a matching tokenizer."""
    from transformers import BertConfig, BertModel, BertTokenizerFast
    import torch

    folder = tmp_path_factory.mktemp("tiny-bert")
    words = sorted({w for ws in CLASS_WORDS.values() for w in ws} | set(FILLER) | set(CLASS_WORDS))
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = list("abcdefghijklmnopqrstuvwxyz")
    vocab = specials + words + [l for l in letters if l not in words]
    vocab += [f"##{l}" for l in letters]
    vocab = vocab[:99]
    # ``vocab=`` (a mapping): the tokenizer ignores a ``vocab_file=`` argument and would map
    # every word to [UNK], leaving nothing to learn.
    tokenizer = BertTokenizerFast(vocab={word: i for i, word in enumerate(vocab)}, do_lower_case=True)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    return str(folder)


@pytest.fixture
def tiny_stream():
    return synthetic_stream()
