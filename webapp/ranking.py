"""Re-ranking the best text matches the way a reader expects. Pure functions.

bm25 alone ranks "The World of the Hunger Games" above "The Hunger Games"
for ``hunger gam`` (the words occur twice). Readers type the start of a
title, whole words before the last one, and expect the popular book when
several fit equally well. So the database's bm25 picks a bounded set of
candidates and this module orders them with a few signals it can compute
from the title alone.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

LEADING_ARTICLES = frozenset({"the", "a", "an"})
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Candidate:
    book_id: int
    title: str
    bm25: float  # FTS5's bm25(): lower (more negative) is better
    times_borrowed: int = 0
    on_shelf: bool = False


def words(text: str) -> list[str]:
    """Lower-case words without diacritics, split as FTS5's unicode61 tokenizer does."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _WORD.findall(plain)


def _without_leading_article(title_words: list[str]) -> list[str]:
    if len(title_words) > 1 and title_words[0] in LEADING_ARTICLES:
        return title_words[1:]
    return title_words


def score(candidate: Candidate, terms: list[str], best_bm25: float) -> float:
    """Higher is better. ``terms`` are the query's words as ``words()`` splits them."""
    title_words = _without_leading_article(words(candidate.title))
    text = candidate.bm25 / best_bm25 if best_bm25 else 0.0
    in_title = sum(any(word.startswith(term) for word in title_words) for term in terms)
    whole_words = sum(term in title_words for term in terms)
    leading = 0
    for term, word in zip(terms, title_words):
        if not word.startswith(term):
            break
        leading += 1
    # A single word at the start of a title says little ("Gatsby's Girl" for
    # "gatsby"); two or more in order say the reader is typing this title.
    starts_bonus = 1.5 * leading if leading >= 2 else 0.0
    extra_words = max(len(title_words) - len(terms), 0)
    return (
        3.0 * text
        + 2.0 * in_title / len(terms)
        + 1.0 * whole_words / len(terms)
        + starts_bonus
        + 0.5 * math.log1p(candidate.times_borrowed)
        + (0.3 if candidate.on_shelf else 0.0)
        - 0.1 * extra_words
    )


def rerank(candidates: list[Candidate], query_terms: tuple[str, ...]) -> list[Candidate]:
    """``candidates`` ordered best first; ties keep bm25 order."""
    if not candidates:
        return []
    terms = [word for term in query_terms for word in words(term)] or [""]
    best = min(candidate.bm25 for candidate in candidates)
    order = sorted(
        enumerate(candidates), key=lambda item: (-score(item[1], terms, best), item[0])
    )
    return [candidate for _, candidate in order]
