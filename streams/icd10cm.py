"""ICD-10-CM 2026 as a source of labelled clinical terminology (offline, from ``simple-icd-10-cm``).

Texts are real clinical phrases: the titles of leaf codes, the inclusion terms (clinical
synonyms) listed under codes and the phrases of excludes notes. :func:`chapter_records` labels
titles and inclusion terms with their chapter, :func:`block_table` with their block (one task per
chapter), :func:`view_table` with their chapter in three views (one domain per kind of text). A
text whose label would be ambiguous is dropped; a text repeated under one label is kept once.
"""
from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache
from importlib import metadata

from .base import Records, SourceCard
from .child import in_child

#: Built-in streams leave out classes with fewer texts than this (chapter 22 has 3 codes).
MIN_EXAMPLES_PER_CLASS = 50
#: ``icd10cm-blocks`` keeps chapters with at least this many blocks of MIN_EXAMPLES_PER_CLASS texts.
MIN_BLOCKS_PER_CHAPTER = 6
#: The three views of ``icd10cm-views``, in experience order.
VIEWS = ("code titles", "inclusion terms", "excludes phrases")

# "phrase (A15-A19)", "phrase (J45.-)", "phrase (T50.8X5-, T51.0-)": the last parenthesis is the
# reference; what comes before it is the phrase.
_EXCLUDES_REFERENCE = re.compile(r"^(.*\S)\s*\(([^()]*)\)\s*$")


def card(name: str, description: str) -> SourceCard:
    """The provenance of a built-in stream: the ICD-10-CM release and the package version read."""
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


def chapter_name(chapter: str, description: str) -> str:
    """The class name of a chapter, e.g. "Chapter 9: Diseases of the circulatory system (I00-I99)"."""
    return f"Chapter {chapter}: {description}"


@lru_cache(maxsize=1)
def drawn() -> dict:
    """What the built-in streams draw from ICD-10-CM (:func:`draw`), drawn once per process in a
    child process (:mod:`streams.child`), so that this one never holds the parsed tree."""
    return in_child(__name__, "draw", package="simple-icd-10-cm")


def draw() -> dict:
    """Every ICD-10-CM extraction of the built-in streams, in this process: the code texts
    (:func:`parse_code_texts`), the excludes phrases (:func:`parse_excludes_phrases`) and the
    disease groups' terms (:func:`streams.icd10cm_tags.parse_group_terms`). All three at once,
    since importing the package costs more than the three together."""
    from .icd10cm_tags import parse_group_terms

    return {"code_texts": parse_code_texts(), "excludes_phrases": parse_excludes_phrases(),
            "group_terms": parse_group_terms()}


def _code_texts() -> tuple[tuple[tuple[str, str, str, str], ...], dict[str, str]]:
    """(chapter, top-level block, view, text) for every leaf title and inclusion term, in ICD
    order, and the description of every chapter and block."""
    return drawn()["code_texts"]


def parse_code_texts() -> tuple[tuple[tuple[str, str, str, str], ...], dict[str, str]]:
    """:func:`_code_texts`, drawn in this process (importing the package's whole tree)."""
    import simple_icd_10_cm as icd

    rows = []
    descriptions = {}
    for code in icd.get_all_codes(True):
        if icd.is_chapter_or_block(code):
            descriptions[code] = icd.get_description(code)
            continue
        ancestors = icd.get_ancestors(code)
        chapter, block = ancestors[-1], ancestors[-2]  # blocks can nest: the one under the chapter
        if icd.is_leaf(code):
            rows.append((chapter, block, VIEWS[0], _normalise(icd.get_description(code))))
        for term in icd.get_inclusion_term(code):
            rows.append((chapter, block, VIEWS[1], _normalise(term)))
    return tuple(rows), descriptions


def chapter_records(min_examples: int = MIN_EXAMPLES_PER_CLASS) -> tuple[Records, list[str]]:
    """Records labelled by chapter, and notes on what was left out.

    Chapters are numbered in ICD order; kept chapters get class ids 0..C-1 in that order and the
    class name "Chapter N: description".
    """
    rows, descriptions = _code_texts()
    texts_by_chapter: dict[str, set[str]] = defaultdict(set)
    for chapter, _, _, text in rows:
        texts_by_chapter[chapter].add(text)
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
        names.append(chapter_name(chapter, descriptions[chapter]))
        descs.append(descriptions[chapter])
        kept_texts.extend(texts)
        kept_labels.extend([class_id] * len(texts))
    return Records(kept_texts, kept_labels, names, descs), notes


# --- blocks (task-incremental) and views (domain-incremental) -------------------------------------


def reference_chapter(reference: str):
    """The chapter of an excludes-note reference ("A15-A19", "J45.-", "T50.8X5-"), or None.

    A range counts by its start; a code that is not itself in the tabular list (a placeholder or
    dash-ended prefix) is cut back to its longest valid prefix, down to the 3-character category.
    """
    import simple_icd_10_cm as icd

    code = reference.strip().split("-")[0].strip().rstrip(".")
    while len(code) >= 3 and not icd.is_valid_item(code):
        code = code[:-1].rstrip(".")
    if len(code) < 3 or not icd.is_valid_item(code):
        return None
    return code if icd.is_chapter(code) else icd.get_ancestors(code)[-1]


def _excludes_phrases() -> tuple[tuple[tuple[str, str], ...], int]:
    """(chapter, phrase) for every excludes1/excludes2 phrase whose reference resolves to one
    chapter, and the number of phrases dropped (no reference, or none / two chapters)."""
    return drawn()["excludes_phrases"]


def parse_excludes_phrases() -> tuple[tuple[tuple[str, str], ...], int]:
    """:func:`_excludes_phrases`, drawn in this process."""
    import simple_icd_10_cm as icd

    kept, dropped = [], 0
    for code in icd.get_all_codes(True):
        for phrase in icd.get_excludes1(code) + icd.get_excludes2(code):
            match = _EXCLUDES_REFERENCE.match(phrase)
            chapters = set()
            if match:
                chapters = {reference_chapter(r) for r in match.group(2).split(",") if r.strip()}
                chapters.discard(None)
            if len(chapters) != 1:
                dropped += 1
                continue
            kept.append((chapters.pop(), _normalise(match.group(1))))
    return tuple(kept), dropped


def block_table(
    min_examples: int = MIN_EXAMPLES_PER_CLASS, min_blocks: int = MIN_BLOCKS_PER_CHAPTER
):
    """A task table: one task per chapter, label = its top-level block; and notes per chapter.

    Texts are leaf titles and inclusion terms; a text under two blocks is dropped. A block with
    fewer than ``min_examples`` texts is left out; a chapter keeps its task when at least
    ``min_blocks`` blocks remain. Tasks are named "Chapter N" and come in ICD order; class ids
    follow ICD order too, so each task's local labels are its blocks in ICD order.
    Returns (table, notes): ``notes`` maps a chapter's task name (or "" for the whole source) to
    what was left out.
    """
    from .sources import SourceTable

    rows, descriptions = _code_texts()
    owners: dict[str, set[tuple[str, str]]] = defaultdict(set)
    texts: dict[tuple[str, str], set[str]] = defaultdict(set)
    for chapter, block, _, text in rows:
        owners[text].add((chapter, block))
        texts[(chapter, block)].add(text)
    ambiguous = {t for t, where in owners.items() if len(where) > 1}
    notes: dict[str, list[str]] = defaultdict(list)
    notes[""].append(f"{len(ambiguous)} texts that occur under two or more blocks were dropped")
    blocks_of: dict[str, list[str]] = defaultdict(list)
    for chapter, block in texts:  # dicts keep ICD order
        blocks_of[chapter].append(block)
    table_texts, labels, tasks, values, names = [], [], [], [], []
    task_order, small_chapters = [], []
    for chapter in sorted(blocks_of, key=int):
        kept = [b for b in blocks_of[chapter] if len(texts[(chapter, b)] - ambiguous) >= min_examples]
        if len(kept) < min_blocks:
            small_chapters.append(chapter)
            continue
        task = f"Chapter {chapter}"
        left_out = [b for b in blocks_of[chapter] if b not in kept]
        if left_out:
            notes[task].append(f"{task}: {len(left_out)} block{'s' if len(left_out) > 1 else ''} "
                               f"with fewer than {min_examples} texts left out "
                               f"({', '.join(left_out)})")
        task_order.append(task)
        for block in kept:
            class_id = len(values)
            values.append(block)
            names.append(descriptions[block])
            block_texts = sorted(texts[(chapter, block)] - ambiguous)
            table_texts.extend(block_texts)
            labels.extend([class_id] * len(block_texts))
            tasks.extend([task] * len(block_texts))
    notes[""].append(f"chapters {', '.join(small_chapters)} left out: fewer than {min_blocks} blocks "
                     f"with at least {min_examples} texts")
    table = SourceTable(
        name="icd10cm", card=card("icd10cm-blocks", "ICD-10-CM blocks per chapter"),
        texts=table_texts, labels=labels, label_values=values, class_names=names,
        class_descriptions=list(names), tasks=tasks, task_order=task_order,
    )
    return table, dict(notes)


def view_table(min_examples: int = MIN_EXAMPLES_PER_CLASS):
    """A domain table: label = chapter, domain = view (code titles, inclusion terms, excludes
    phrases); and notes on what was left out.

    Texts are compared case-insensitively: a text carrying two chapters anywhere is dropped; a
    text in two views is kept in the first only. A chapter with fewer than ``min_examples`` texts
    in any view is left out, so every view has the same label set.
    """
    from .sources import SourceTable

    rows, descriptions = _code_texts()
    phrases, unresolved = _excludes_phrases()
    candidates = [(chapter, view, text) for chapter, _, view, text in rows]
    candidates += [(chapter, VIEWS[2], text) for chapter, text in phrases]
    chapters_of: dict[str, set[str]] = defaultdict(set)
    for chapter, _, text in candidates:
        chapters_of[text.casefold()].add(chapter)
    ambiguous = {key for key, chapters in chapters_of.items() if len(chapters) > 1}
    by_view: dict[str, dict[str, dict[str, str]]] = {v: defaultdict(dict) for v in VIEWS}
    first_view: dict[str, str] = {}
    moved = 0
    for chapter, view, text in sorted(candidates, key=lambda c: (VIEWS.index(c[1]), c[2])):
        key = text.casefold()
        if key in ambiguous:
            continue
        if first_view.setdefault(key, view) != view:
            moved += 1
            continue
        by_view[view][chapter].setdefault(key, text)
    notes = [
        f"{unresolved} excludes phrases dropped: no code reference that resolves to one chapter",
        f"{len(ambiguous)} texts that occur under two or more chapters were dropped",
        f"{moved} texts that occur in two views were kept in the first view only",
    ]
    table_texts, labels, domains, names, descs = [], [], [], [], []
    all_chapters = sorted({c for c, _, _ in candidates}, key=int)
    for chapter in all_chapters:
        sizes = [len(by_view[v].get(chapter, {})) for v in VIEWS]
        if min(sizes) < min_examples:
            notes.append(f"chapter {chapter} left out: {min(sizes)} text{'s' if min(sizes) != 1 else ''} "
                         "in its smallest view, "
                         f"below the minimum of {min_examples}")
            continue
        class_id = len(names)
        names.append(chapter_name(chapter, descriptions[chapter]))
        descs.append(descriptions[chapter])
        for view in VIEWS:
            view_texts = sorted(by_view[view][chapter].values())
            table_texts.extend(view_texts)
            labels.extend([class_id] * len(view_texts))
            domains.extend([view] * len(view_texts))
    table = SourceTable(
        name="icd10cm", card=card("icd10cm-views", "ICD-10-CM chapters in three views"),
        texts=table_texts, labels=labels, label_values=list(range(len(names))),
        class_names=names, class_descriptions=descs, domains=domains,
    )
    return table, notes
