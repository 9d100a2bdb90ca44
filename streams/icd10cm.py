"""ICD-10-CM 2026 as a source of labelled clinical terminology (offline, from ``simple-icd-10-cm``).

Texts are real clinical phrases: the titles of leaf codes and the inclusion terms (clinical
synonyms) listed under codes. Each text is labelled with its chapter. A text that occurs under two
chapters is ambiguous and dropped; a text repeated within one chapter is kept once.
"""
from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache
from importlib import metadata

from .base import Records, SourceCard

#: Built-in streams leave out classes with fewer texts than this (chapter 22 has 3 codes).
MIN_EXAMPLES_PER_CLASS = 50


def card(name: str, description: str) -> SourceCard:
    version = metadata.version("simple-icd-10-cm")
    return SourceCard(
        name=name,
        description=description,
        source="ICD-10-CM tabular list, April 1 2026 release (FY2026), via the PyPI package "
        f"simple-icd-10-cm {version}",
        version=f"ICD-10-CM 2026 (simple-icd-10-cm {version})",
        licence="ICD-10-CM is published by the US CDC/NCHS and is in the public domain; "
        "simple-icd-10-cm is MIT-licensed (Stefano Travasci).",
        citation="National Center for Health Statistics. ICD-10-CM Tabular List of Diseases and "
        "Injuries, FY2026. Centers for Disease Control and Prevention, 2025.",
    )


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@lru_cache(maxsize=1)
def _chapter_texts() -> tuple[dict[str, set[str]], dict[str, str]]:
    """Map chapter id -> set of texts (leaf titles + inclusion terms), and chapter descriptions."""
    import simple_icd_10_cm as icd

    codes = icd.get_all_codes(True)
    chapters = [c for c in codes if icd.is_chapter(c)]
    descriptions = {c: icd.get_description(c) for c in chapters}
    texts: dict[str, set[str]] = defaultdict(set)
    for code in codes:
        if icd.is_chapter(code) or icd.is_block(code):
            continue
        chapter = icd.get_ancestors(code)[-1]
        if icd.is_leaf(code):
            texts[chapter].add(_normalise(icd.get_description(code)))
        for term in icd.get_inclusion_term(code):
            texts[chapter].add(_normalise(term))
    return dict(texts), descriptions


def chapter_records(min_examples: int = MIN_EXAMPLES_PER_CLASS) -> tuple[Records, list[str]]:
    """Records labelled by chapter, and notes on what was left out.

    Chapters are numbered in ICD order; kept chapters get class ids 0..C-1 in that order and the
    class name "Chapter N: description".
    """
    texts_by_chapter, descriptions = _chapter_texts()
    owners: dict[str, set[str]] = defaultdict(set)
    for chapter, texts in texts_by_chapter.items():
        for text in texts:
            owners[text].add(chapter)
    ambiguous = {t for t, chs in owners.items() if len(chs) > 1}
    notes = [f"{len(ambiguous)} texts that occur under two or more chapters were dropped"]
    kept_texts, kept_labels, names, descs = [], [], [], []
    for chapter in sorted(texts_by_chapter, key=int):
        texts = sorted(texts_by_chapter[chapter] - ambiguous)
        if len(texts) < min_examples:
            notes.append(
                f"chapter {chapter} left out: {len(texts)} texts, below the minimum of {min_examples}"
            )
            continue
        class_id = len(names)
        names.append(f"Chapter {chapter}: {descriptions[chapter]}")
        descs.append(descriptions[chapter])
        kept_texts.extend(texts)
        kept_labels.extend([class_id] * len(texts))
    return Records(kept_texts, kept_labels, names, descs), notes
