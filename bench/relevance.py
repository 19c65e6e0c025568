"""Relevance on goodbooks-10k (issue #21): partial queries and the same with one typo.

The titles are chosen by a fixed rule: every ``STEP``-th row of books.csv whose
title (as the index splits it, without a leading article) has at least two
words. The partial query is the first word and the first half (at least
three letters) of the next word that is not a common one ("of", "the": see
``search_query.COMMON_WORDS``), as a reader types it: "hunger gam", "city bon". The typo query is the same with one letter of the first word
of 5+ letters among those two dropped, doubled, swapped with the next one or
replaced (the kind and the position taken in turn), for the titles that have
such a word. A query succeeds when a book of that title is among the first 5.

Used by tests/test_relevance_goodbooks.py (the targets) and bench.search (the
figures in docs/benchmarks.md).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from webapp import ranking, search_query
from webapp.db import Database
from webapp.models import catalogue
from webapp.models.search_vocabulary import CatalogueWords
from webapp.search_query import COMMON_WORDS

STEP = 25
TOP = 5
TYPO_WORD_LETTERS = 5
KINDS = ("drop", "double", "swap", "replace")


@dataclass(frozen=True)
class Case:
    title: str
    partial: str
    typo: str | None


def misspelt(word: str, index: int) -> str:
    """``word`` with one letter dropped, doubled, swapped or replaced, by ``index``."""
    kind = KINDS[index % len(KINDS)]
    position = (index // len(KINDS)) % (len(word) - 1)
    letter = word[position]
    if kind == "drop":
        return word[:position] + word[position + 1 :]
    if kind == "double":
        return word[: position + 1] + letter + word[position + 1 :]
    if kind == "swap":
        return word[:position] + word[position + 1] + letter + word[position + 2 :]
    replacement = "e" if letter != "e" else "a"
    return word[:position] + replacement + word[position + 1 :]


def cases(csv_path: Path) -> list[Case]:
    found = []
    with csv_path.open(encoding="utf-8", newline="") as handle:
        for row_number, record in enumerate(csv.DictReader(handle)):
            if row_number % STEP:
                continue
            # "The Hunger Games (The Hunger Games, #1)": the importer keeps the
            # series in brackets as the series.
            title = re.sub(r"\s*\([^()]*\)\s*$", "", record["title"] or "").strip()
            words = ranking.words(title)
            if words and words[0] in ranking.LEADING_ARTICLES:
                words = words[1:]
            following = [word for word in words[1:] if word not in COMMON_WORDS and len(word) > 1]
            if not words or not following:
                continue
            second = following[0][: max(3, (len(following[0]) + 1) // 2)]
            partial = f"{words[0]} {second}"
            typo = None
            for place, word in enumerate((words[0], second)):
                if len(word) >= TYPO_WORD_LETTERS and word.isalpha():
                    typed = [words[0], second]
                    typed[place] = misspelt(word, len(found))
                    typo = " ".join(typed)
                    break
            found.append(Case(title, partial, typo))
    return found


async def _found(db: Database, words: CatalogueWords | None, text: str, title: str) -> bool:
    page = (await catalogue.lookup(db, search_query.parse(text), per_page=TOP, words=words)).page
    wanted = title.casefold()
    return any(
        "".join(part for part, _ in result.title_parts).casefold() == wanted
        for result in page.results
    )


@dataclass(frozen=True)
class Rates:
    partial_found: int
    partial_total: int
    typo_found: int
    typo_total: int

    @property
    def partial(self) -> float:
        return self.partial_found / self.partial_total

    @property
    def typo(self) -> float:
        return self.typo_found / self.typo_total


async def measure(db: Database, csv_path: Path, spelling: bool = True) -> tuple[Rates, list[str]]:
    """The two rates over the fixed cases, and the queries that missed; without
    ``spelling``, as search was before it forgave typos."""
    words = CatalogueWords() if spelling else None
    chosen = cases(csv_path)
    missed = []
    partial_found = typo_found = typo_total = 0
    for case in chosen:
        if await _found(db, words, case.partial, case.title):
            partial_found += 1
        else:
            missed.append(case.partial)
        if case.typo is not None:
            typo_total += 1
            if await _found(db, words, case.typo, case.title):
                typo_found += 1
            else:
                missed.append(case.typo)
    return Rates(partial_found, len(chosen), typo_found, typo_total), missed
