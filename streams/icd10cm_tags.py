"""``icd10cm-tags``: disease tagging in synthetic clinical sentences around real ICD-10-CM terms.

The entities are real clinical terminology: leaf code titles and inclusion terms of
``simple-icd-10-cm`` (ICD-10-CM 2026), one entity type per disease group (:data:`GROUPS`). The
contexts around them are synthetic: short clinical note templates (:data:`SINGLE`,
:data:`PAIRS`, :data:`NEGATIVE`) filled in by a generator with a fixed seed, so the corpus is
the same on every machine, like a data file; the run's split seed and seed then cut it as they
cut any source. Some sentences hold two entities of different types, some none.
"""
from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache
from itertools import combinations

import numpy as np

from .tagging import TokenTable, tag_id

#: (entity type, ICD-10-CM chapters or blocks whose codes give its terms, the code range shown)
GROUPS = (
    ("diabetes", ("E08-E13",), "E08-E13"),
    ("neoplasm", ("2",), "C00-D49"),
    ("cerebrovascular", ("I60-I69",), "I60-I69"),
    ("heart_disease", ("I20-I25", "I26-I28", "I30-I5A"), "I20-I5A"),
    ("chronic_lower_respiratory", ("J40-J4A",), "J40-J4A"),
    ("kidney_failure", ("N17-N19",), "N17-N19"),
    ("influenza_pneumonia", ("J09-J18",), "J09-J18"),
    ("liver_disease", ("K70-K77",), "K70-K77"),
)
#: Terms longer than this many words are left out (whole code titles can run to 25 words; a
#: note names a disease more briefly).
MAX_TERM_WORDS = 12
#: The corpus: sentences with one entity per type, with two entities per pair of types, and
#: sentences without any entity.
SINGLE_PER_TYPE, PER_PAIR, NEGATIVES = 400, 12, 600
#: The seed of the generator that fills the templates: part of the corpus's version.
CORPUS_SEED = 2026
CORPUS_VERSION = "templates 1"

# Templates: words separated by spaces; {0} and {1} are entities, {age}, {sex} and {when} fillers.
SINGLE = (
    "{age} {sex} with a history of {0} presents for follow-up .",
    "Assessment : {0} .",
    "Admitted {when} with {0} , started on treatment .",
    "Past medical history is notable for {0} .",
    "Diagnosis : {0} , confirmed by the attending physician {when} .",
    "The patient was referred to clinic for evaluation of {0} .",
    "{age} {sex} presenting {when} with {0} .",
    "Discharge diagnosis : {0} .",
    "Problem list includes {0} .",
    "Follow-up visit for {0} ; symptoms stable {when} .",
    "Findings are consistent with {0} .",
    "Known case of {0} , on regular review .",
    "Impression : {0} in a {age} {sex} .",
    "Plan : continue management of {0} and recheck in three months .",
    "Seen {when} for {0} .",
    "Chart review shows {0} documented on admission .",
    "{age} {sex} , {0} , admitted for monitoring .",
    "Consult requested {when} for {0} .",
    "Reason for visit : {0} .",
    "History significant for {0} , diagnosed by the primary care physician .",
)
PAIRS = (
    "History of {0} and {1} .",
    "{age} {sex} with {0} , now admitted {when} with {1} .",
    "Assessment : {0} ; also {1} .",
    "Known {0} ; new diagnosis of {1} {when} .",
    "Problem list : {0} , {1} .",
    "Admitted for {0} in the setting of {1} .",
)
NEGATIVE = (
    "{age} {sex} seen {when} for routine follow-up ; no new complaints .",
    "Vital signs stable {when} , afebrile .",
    "{age} {sex} tolerated the procedure well .",
    "No acute distress on examination {when} .",
    "Medications reviewed and reconciled {when} .",
    "{age} {sex} discharged home in stable condition .",
    "Labs pending {when} at the time of this note .",
    "{age} {sex} denies fever or chills {when} .",
    "Follow-up scheduled in two weeks ; seen {when} .",
    "{age} {sex} admitted {when} for elective surgery .",
    "Physical examination unremarkable {when} .",
    "Care plan discussed with the family {when} .",
)
SEXES = ("man", "woman", "patient")
WHEN = ("today", "this morning", "yesterday", "on arrival", "overnight", "at discharge",
        "last week", "this afternoon", "on day 2", "on day 3")

_WORD = re.compile(r"\w+(?:[-'./]\w+)*|[^\w\s]")


def words_of(text: str) -> list[str]:
    """A term's words: runs of letters and digits (joined by - ' . /), each other mark alone."""
    return _WORD.findall(text)


def group_terms() -> tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]:
    """Per group, its terms as word tuples (sorted, each once; a term in two groups is left out
    of both), and notes on what was left out; drawn in a child process with the other ICD-10-CM
    texts (:func:`streams.icd10cm.drawn`)."""
    from .icd10cm import drawn

    return drawn()["group_terms"]


def parse_group_terms() -> tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]:
    """:func:`group_terms`, drawn in this process (importing the package's whole tree)."""
    import simple_icd_10_cm as icd

    by_group: list[set[tuple[str, ...]]] = []
    long = 0
    for _, items, _ in GROUPS:
        terms = set()
        for item in items:
            for code in icd.get_descendants(item):
                texts = list(icd.get_inclusion_term(code))
                if icd.is_leaf(code):
                    texts.append(icd.get_description(code))
                for text in texts:
                    words = tuple(words_of(text))
                    if len(words) > MAX_TERM_WORDS:
                        long += 1
                    elif words:
                        terms.add(words)
        by_group.append(terms)
    owners: dict[tuple[str, ...], int] = {}
    for terms in by_group:
        for term in terms:
            key = tuple(w.casefold() for w in term)
            owners[key] = owners.get(key, 0) + 1
    shared = {key for key, n in owners.items() if n > 1}
    kept = tuple(tuple(sorted(t for t in terms if tuple(w.casefold() for w in t) not in shared))
                 for terms in by_group)
    notes = tuple(note for n, note in ((long, f"{long} terms longer than {MAX_TERM_WORDS} words left out"),
                                       (len(shared), f"{len(shared)} terms under two disease groups left out"))
                  if n)
    return kept, notes


@lru_cache(maxsize=1)
def _corpus() -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[int, ...], ...]]:
    """The sentences (words) and their tag ids: singles per type, pairs per pair of types, then
    negatives, each sentence once."""
    terms, _ = group_terms()
    rng = np.random.default_rng([CORPUS_SEED])
    seen: set[tuple[str, ...]] = set()
    words, tags = [], []
    plan = [((k,), SINGLE_PER_TYPE) for k in range(len(GROUPS))]
    plan += [(pair, PER_PAIR) for pair in combinations(range(len(GROUPS)), 2)]
    plan += [((), NEGATIVES)]
    for types, count in plan:
        templates = {0: NEGATIVE, 1: SINGLE, 2: PAIRS}[len(types)]
        made = 0
        for _ in range(count * 20):  # a few draws repeat a sentence; never loops forever
            if made == count:
                break
            order = types[::-1] if len(types) == 2 and rng.random() < 0.5 else types
            entities = [terms[k][rng.integers(len(terms[k]))] for k in order]
            sentence = _fill(templates[rng.integers(len(templates))], entities, order, rng)
            if sentence[0] not in seen:
                seen.add(sentence[0])
                words.append(sentence[0])
                tags.append(sentence[1])
                made += 1
    return tuple(words), tuple(tags)


def _fill(template: str, entities: list[tuple[str, ...]], types: tuple[int, ...], rng
          ) -> tuple[tuple[str, ...], tuple[int, ...]]:
    words, tags = [], []
    fillers = {"{age}": [f"{rng.integers(18, 96)}-year-old"], "{sex}": [SEXES[rng.integers(len(SEXES))]],
               "{when}": WHEN[rng.integers(len(WHEN))].split()}
    for part in template.split():
        if part in ("{0}", "{1}"):
            slot = int(part[1])
            words.extend(entities[slot])
            tags.extend([tag_id("B", types[slot])] + [tag_id("I", types[slot])] * (len(entities[slot]) - 1))
        else:
            filled = fillers.get(part, [part])
            words.extend(filled)
            tags.extend([0] * len(filled))
    return tuple(words), tuple(tags)


def tag_table(name: str, description: str) -> tuple[TokenTable, list[str]]:
    """The corpus as a :class:`TokenTable` (types in :data:`GROUPS` order) and its notes."""
    from . import icd10cm

    words, tags = _corpus()
    _, notes = group_terms()
    card = icd10cm.card(name, description)
    card = replace(card, version=f"{card.version}, {CORPUS_VERSION} (corpus seed {CORPUS_SEED})")
    table = TokenTable(name="icd10cm-tags", card=card, words=[list(w) for w in words],
                       tags=[list(t) for t in tags], class_names=[g[0] for g in GROUPS])
    return table, list(notes)
