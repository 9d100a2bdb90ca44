"""The long-text workload: note-length documents built offline from ICD-10-CM texts.

Users' texts are abstracts, discharge summaries and radiology reports, hundreds of tokens long,
where attention's cost and padding behave differently from the default stream's 13-token code
titles. Each document here concatenates texts of one ICD-10-CM chapter (its label), in a seeded
order, up to a target length drawn uniformly between ``min_tokens`` and ``max_tokens`` word
pieces (the special tokens included), so the lengths spread over the range instead of sitting
at one size; bench.json states the lengths reached (:func:`length_summary`).
"""
from __future__ import annotations

import statistics
from typing import Sequence

import numpy as np

from streams.base import ExperienceData, Stream
from streams.seeds import numpy_rng

MIN_TOKENS, MAX_TOKENS = 128, 512
NAME = "icd10cm-long-text"
#: between the concatenated texts, as sentences of a note
SEPARATOR = ". "


def long_text_stream(tokenizer, *, chapters: int, train_per_class: int, test_per_class: int,
                     min_tokens: int = MIN_TOKENS, max_tokens: int = MAX_TOKENS, seed: int = 0) -> Stream:
    """A one-experience, class-scenario stream of documents from the ``chapters`` largest
    ICD-10-CM chapters, ``train_per_class`` training and ``test_per_class`` test documents each.

    No text appears in two documents of a chapter until every text of the chapter has been used
    (then the chapter's texts are reshuffled), so train and test documents share no text on
    chapters large enough, which the largest chapters are (thousands of texts).
    """
    from streams import icd10cm

    records, _ = icd10cm.chapter_records()
    by_class: dict[int, list[str]] = {}
    for text, label in zip(records.texts, records.labels):
        by_class.setdefault(label, []).append(text)
    largest = sorted(by_class, key=lambda c: (-len(by_class[c]), c))[:chapters]
    per_class = train_per_class + test_per_class
    train_texts, train_labels, test_texts, test_labels = [], [], [], []
    for new_label, chapter in enumerate(largest):
        docs = _documents(tokenizer, by_class[chapter], per_class, min_tokens, max_tokens,
                          numpy_rng(seed, "long-text", chapter))
        train_texts += docs[:train_per_class]
        train_labels += [new_label] * train_per_class
        test_texts += docs[train_per_class:]
        test_labels += [new_label] * test_per_class
    names = [records.class_names[c] for c in largest]
    experience = ExperienceData(id=0, classes=list(range(len(largest))), task=0, train_texts=train_texts,
                                train_labels=train_labels, test_texts=test_texts, test_labels=test_labels)
    description = (f"Long texts: documents of {min_tokens}-{max_tokens} word pieces, each ICD-10-CM "
                   "texts of one chapter (its label) joined as sentences")
    return Stream(name=NAME, scenario="class", description=description,
                  card=icd10cm.card(NAME, description), class_names=names, experiences=[experience])


def _documents(tokenizer, texts: Sequence[str], n: int, min_tokens: int, max_tokens: int,
               rng: np.random.Generator) -> list[str]:
    """``n`` documents, each the texts (in ``rng``'s order) that fit its drawn target length
    (one text more where the document would otherwise stay below ``min_tokens``); texts longer
    than half the range are left out."""
    pieces = [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
    # texts up to half the range only: one more text then never carries a document that is
    # still below the range past its top
    short = [i for i, n in enumerate(pieces) if n <= (max_tokens - min_tokens) // 2]
    if not short:
        raise ValueError(f"no text of this chapter is short enough for documents of {min_tokens}-{max_tokens} tokens")
    texts, pieces = [texts[i] for i in short], [pieces[i] for i in short]
    separator = len(tokenizer(SEPARATOR.strip(), add_special_tokens=False)["input_ids"])
    special = tokenizer.num_special_tokens_to_add()
    order, at = rng.permutation(len(texts)), 0
    documents = []
    for target in rng.integers(min_tokens, max_tokens + 1, size=n):
        chosen, length = [], special
        while True:
            if at == len(order):
                order, at = rng.permutation(len(texts)), 0
            cost = pieces[order[at]] + (separator if chosen else 0)
            # stop short of the target, unless that would leave the document below the range
            if chosen and (length + cost > max_tokens or (length + cost > target and length >= min_tokens)):
                break
            chosen.append(texts[order[at]])
            length += cost
            at += 1
        documents.append(SEPARATOR.join(chosen))
    return documents


def length_summary(real_tokens: Sequence[int]) -> dict:
    """The documents' lengths in word pieces (special tokens included), as bench.json states them."""
    q1, median, q3 = statistics.quantiles(real_tokens, n=4) if len(real_tokens) > 1 else [real_tokens[0]] * 3
    return {"documents": len(real_tokens), "min": min(real_tokens), "q1": q1, "median": median, "q3": q3,
            "max": max(real_tokens), "mean": statistics.fmean(real_tokens)}


def measure_long_text(settings, tokenizer, non_embedding_parameters: int, peak_gflops: float) -> dict:
    """The ``long_text`` object of bench.json: the suite's training and evaluation (as (c) and
    (e)) on the long documents at ``--max-length`` = the plan's longest, with sdpa attention
    (the top-level figures) and again with eager (``eager``, and ``sdpa_speedup``: sdpa's rate
    over eager's).

    ``utilization`` counts the FLOPs of the linear layers only (6 x non-embedding parameters x
    real tokens, as the default workload's): attention's scores and mixing, which grow with the
    square of the length, add about a tenth at these lengths and are left out, so the figure
    stays comparable between the workloads.
    """
    from .suite import suite_config, suite_pass
    from .workload import log

    plan = settings.plan
    low, high = plan["long_tokens"]
    stream = long_text_stream(tokenizer, chapters=plan["long_chapters"], train_per_class=plan["long_train_per_class"],
                              test_per_class=plan["long_test_per_class"], min_tokens=low, max_tokens=high)
    experience = stream.experiences[0]
    train = _real_tokens(tokenizer, experience.train_texts, high)
    test = _real_tokens(tokenizer, experience.test_texts, high)
    result: dict = {"max_length": high, "lengths": length_summary(train + test),
                    "train_documents": len(train), "test_documents": len(test),
                    "mean_train_tokens": statistics.fmean(train), "mean_test_tokens": statistics.fmean(test)}
    by_kernel = {}
    for attention in ("sdpa", "eager"):
        log(f"long texts ({low}-{high} tokens), the suite, {attention} attention ...")
        config = suite_config(settings, "naive", plan["long_epochs"], 1, attention=attention, max_length=high)
        measured = suite_pass(config, stream, plan["long_eval_repeats"])
        by_kernel[attention] = {
            "train_examples_per_s": measured["rate"],
            "train_tokens_per_s": measured["rate"] * statistics.fmean(train),
            "eval_examples_per_s": measured["eval_rate"],
            "eval_tokens_per_s": measured["eval_rate"] * statistics.fmean(test),
            "epoch_seconds": measured["epoch_seconds"], "eval_seconds": measured["eval_seconds"],
            "kernels": measured["kernels"],
        }
    sdpa, eager = by_kernel["sdpa"], by_kernel["eager"]
    flops = 6 * non_embedding_parameters * statistics.fmean(train)
    result.update(sdpa, utilization=sdpa["train_examples_per_s"] * flops / (peak_gflops * 1e9), eager=eager,
                  sdpa_speedup={"train": sdpa["train_examples_per_s"] / eager["train_examples_per_s"],
                                "eval": sdpa["eval_examples_per_s"] / eager["eval_examples_per_s"]})
    return result


def _real_tokens(tokenizer, texts, max_length: int) -> list[int]:
    return [len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]]
