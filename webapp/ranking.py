"""Re-ranking the best text matches the way a reader expects. Pure functions.

bm25 alone ranks "The World of the Hunger Games" above "The Hunger Games"
for ``hunger gam`` (the words occur twice). Readers type the start of a
title, whole words before the last one, and expect the popular book when
several fit equally well. So the database picks a bounded set of candidates
and this module orders them with a few signals it can compute from the
title and author alone:

- a whole title word typed (``hobbit``) above a title word only begun (``hob``);
- title above author above series and subjects;
- the start of the title typed in order above words scattered through it;
- when relevance ties, the book lent often and on the shelf now first.

FTS5's bm25 is not among them: computing it costs more than a keystroke
allows at a million titles (see ``catalogue._search``), so where the terms were
found (title, author, elsewhere) stands in for it.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

LEADING_ARTICLES = frozenset({"the", "a", "an"})
_WORD = re.compile(r"[^\W_]+")
T = TypeVar("T", bound=tuple)

# How much a term found only in the author, or only in series/subjects/ISBN,
# counts against one found in the title.
AUTHOR_WEIGHT = 0.6
EXTRA_WEIGHT = 0.2

# What a copy on the shelf adds: enough to break a near-tie, never to lift a
# worse match.
SHELF_BONUS = 0.3


@dataclass(frozen=True)
class Candidate:
    book_id: int
    title: str
    times_borrowed: int = 0
    author: str = ""


def words(text: str) -> list[str]:
    """Lower-case words without diacritics, split as FTS5's unicode61 tokenizer does."""
    if text.isascii():
        # Most titles: nothing to decompose, and this runs for every candidate.
        return _WORD.findall(text.lower())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _WORD.findall(plain)


def _without_leading_article(title_words: list[str]) -> list[str]:
    if len(title_words) > 1 and title_words[0] in LEADING_ARTICLES:
        return title_words[1:]
    return title_words


def _leading_matches(terms: list[str], title_words: list[str]) -> int:
    """How many of the terms, in order, begin the title's first words."""
    leading = 0
    for term, word in zip(terms, title_words, strict=False):
        if not word.startswith(term):
            break
        leading += 1
    return leading


def _begins_a_word(term: str, spaced_words: str) -> bool:
    """Whether ``term`` begins one of the words in ``spaced_words`` (" w1 w2 ... ").

    One substring search in C instead of a ``startswith`` per word: this runs
    for every term of every candidate of every keystroke.
    """
    return " " + term in spaced_words


def score(candidate: Candidate, terms: list[str]) -> float:
    """Higher is better. ``terms`` are the query's words as ``words()`` splits them."""
    all_title_words = words(candidate.title)
    title_words = _without_leading_article(all_title_words)
    spaced_title = " " + " ".join(title_words) + " "
    spaced_author = " " + " ".join(words(candidate.author))
    # Where each term was found, title counting most: 0..1 over the terms.
    text = in_title = whole_words = in_author = 0.0
    for term in terms:
        title_hit = _begins_a_word(term, spaced_title)
        author_hit = _begins_a_word(term, spaced_author)
        in_title += title_hit
        in_author += author_hit
        whole_words += f" {term} " in spaced_title
        text += 1.0 if title_hit else AUTHOR_WEIGHT if author_hit else EXTRA_WEIGHT
    # "hunger gam" begins "The Hunger Games" and so does "the hunger g": the
    # start is compared with and without the title's leading article.
    leading = max(_leading_matches(terms, title_words), _leading_matches(terms, all_title_words))
    # A single word at the start of a title says little ("Gatsby's Girl" for
    # "gatsby"); two or more in order say the reader is typing this title.
    starts_bonus = 1.5 * leading if leading >= 2 else 0.0
    extra_words = max(len(title_words) - len(terms), 0)
    return (
        (3.0 * text + 2.0 * in_title + 1.0 * whole_words + 0.5 * in_author) / len(terms)
        + starts_bonus
        + 0.5 * math.log1p(candidate.times_borrowed)
        - 0.1 * extra_words
    )


def query_words(query_terms: tuple[str, ...]) -> list[str]:
    """The query's terms split into words as the index splits them."""
    return [word for term in query_terms for word in words(term)] or [""]


def scored(
    candidates: list[Candidate], query_terms: tuple[str, ...]
) -> list[tuple[float, Candidate]]:
    """``candidates`` with their scores, best first; ties keep the order they came in."""
    terms = query_words(query_terms)
    order = sorted(
        ((score(candidate, terms), index, candidate) for index, candidate in enumerate(candidates)),
        key=lambda item: (-item[0], item[1]),
    )
    return [(value, candidate) for value, _, candidate in order]


def with_shelf(ranked: Sequence[T], on_shelf: set[int]) -> list[T]:
    """Reorder ranked items, each ``(score, book_id, ...)`` and best first, once it is
    known which books have a copy on the shelf (``on_shelf``, book ids); scoring them
    again would give the same."""
    order = sorted(
        enumerate(ranked),
        key=lambda item: (
            -(item[1][0] + (SHELF_BONUS if item[1][1] in on_shelf else 0.0)),
            item[0],
        ),
    )
    return [item for _, item in order]


def _plain(word: str) -> str:
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def matches_all(terms: list[str], *texts: str) -> bool:
    """Whether every term begins some word of ``texts``, as the FTS5 prefix query would match."""
    spaced_words = " " + " ".join(word for text in texts for word in words(text))
    return all(_begins_a_word(term, spaced_words) for term in terms)


def mark_matches(text: str, terms: list[str]) -> tuple[tuple[str, bool], ...]:
    """Split ``text`` into (part, is_match) parts, a word being a match when it begins
    with a query term; the template escapes each part.

    Done here rather than with FTS5's highlight(): that re-runs the query for
    every row asked for, tens of milliseconds at a million titles.
    """
    parts: list[tuple[str, bool]] = []
    position = 0
    for found in _WORD.finditer(text):
        plain = _plain(found.group())
        if any(term and plain.startswith(term) for term in terms):
            if found.start() > position:
                parts.append((text[position : found.start()], False))
            parts.append((found.group(), True))
            position = found.end()
    if position < len(text):
        parts.append((text[position:], False))
    return tuple(parts)
