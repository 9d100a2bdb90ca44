"""Shared fixtures: a tiny random BERT saved as a local model folder, and a synthetic stream."""
from __future__ import annotations

import random

import pytest

from streams import Records, SourceCard, Stream
from streams.scenarios import class_incremental

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

    records = synthetic_records(per_class=14)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(records.texts, [records.class_names[y] for y in records.labels]))
    return path


def synthetic_stream(seed: int = 0, n_experiences: int = 3, per_class: int = 14) -> Stream:
    records = synthetic_records(per_class)
    card = SourceCard("synthetic", "tiny synthetic stream for tests", "tests/conftest.py", "1", "MIT", "none")
    experiences = class_incremental(records, n_experiences=n_experiences, seed=seed,
                                    train_per_class=10, test_per_class=4)
    return Stream("synthetic-class", "class", "tiny synthetic stream", card, records.class_names,
                  experiences, records.class_descriptions)


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
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    return str(folder)


@pytest.fixture
def tiny_stream():
    return synthetic_stream()


def synthetic_domain_stream(seed: int = 0) -> Stream:
    """Three 'hospitals' writing the same three diagnoses (one label space)."""
    from streams import ExperienceData

    records = synthetic_records(per_class=18, seed=seed)
    keep = [i for i, y in enumerate(records.labels) if y < 3]
    experiences = []
    for domain in range(3):
        rows = [i for k, i in enumerate(keep) if k % 3 == domain]
        train, test = rows[: int(len(rows) * 0.7)], rows[int(len(rows) * 0.7):]
        experiences.append(ExperienceData(
            id=domain, classes=[0, 1, 2], task=0,
            train_texts=[f"site{domain} " + records.texts[i] for i in train],
            train_labels=[records.labels[i] for i in train],
            test_texts=[f"site{domain} " + records.texts[i] for i in test],
            test_labels=[records.labels[i] for i in test]))
    card = SourceCard("synthetic", "tiny synthetic domain stream", "tests", "1", "MIT", "none")
    return Stream("synthetic-domain", "domain", "three sites", card, records.class_names[:3],
                  experiences, records.class_descriptions[:3])


def synthetic_task_stream(seed: int = 0) -> Stream:
    """Three tasks of two classes each, labels local to each task (0, 1)."""
    from streams import ExperienceData

    records = synthetic_records(per_class=12, seed=seed)
    experiences = []
    for task in range(3):
        pair = [2 * task, 2 * task + 1]
        rows = [i for i, y in enumerate(records.labels) if y in pair]
        train, test = rows[::2] + rows[1::4], rows[3::4]
        experiences.append(ExperienceData(
            id=task, classes=[0, 1], task=task,
            train_texts=[records.texts[i] for i in train],
            train_labels=[pair.index(records.labels[i]) for i in train],
            test_texts=[records.texts[i] for i in test],
            test_labels=[pair.index(records.labels[i]) for i in test],
            label_names=[records.class_names[c] for c in pair]))
    card = SourceCard("synthetic", "tiny synthetic task stream", "tests", "1", "MIT", "none")
    return Stream("synthetic-task", "task", "three tasks", card, records.class_names, experiences)


SYNTHETIC_STREAMS = {"class": synthetic_stream, "domain": synthetic_domain_stream, "task": synthetic_task_stream}
