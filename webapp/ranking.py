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
allows at a million titles (see ``catalogue.search``), so where the terms were
found (title, author, elsewhere) stands in for it.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

LEADING_ARTICLES = frozenset({"the", "a", "an"})
_WORD = re.compile(r"[^\W_]+")

# How much a term found only in the author, or only in series/subjects/ISBN,
# counts against one found in the title.
AUTHOR_WEIGHT = 0.6
EXTRA_WEIGHT = 0.2


@dataclass(frozen=True)
class Candidate:
    book_id: int
    title: str
    times_borrowed: int = 0
    on_shelf: bool = False
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


def _field_relevance(title_words: list[str], author_words: list[str], terms: list[str]) -> float:
    """0..1: where the terms were found, title counting most."""
    total = 0.0
    for term in terms:
        if any(word.startswith(term) for word in title_words):
            total += 1.0
        elif any(word.startswith(term) for word in author_words):
            total += AUTHOR_WEIGHT
        else:
            total += EXTRA_WEIGHT
    return total / len(terms)


def score(candidate: Candidate, terms: list[str]) -> float:
    """Higher is better. ``terms`` are the query's words as ``words()`` splits them."""
    title_words = _without_leading_article(words(candidate.title))
    author_words = words(candidate.author)
    text = _field_relevance(title_words, author_words, terms)
    in_title = sum(any(word.startswith(term) for word in title_words) for term in terms)
    whole_words = sum(term in title_words for term in terms)
    in_author = sum(any(word.startswith(term) for word in author_words) for term in terms)
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
        + 0.5 * in_author / len(terms)
        + starts_bonus
        + 0.5 * math.log1p(candidate.times_borrowed)
        + (0.3 if candidate.on_shelf else 0.0)
        - 0.1 * extra_words
    )


def query_words(query_terms: tuple[str, ...]) -> list[str]:
    """The query's terms split into words as the index splits them."""
    return [word for term in query_terms for word in words(term)] or [""]


def rerank(candidates: list[Candidate], query_terms: tuple[str, ...]) -> list[Candidate]:
    """``candidates`` ordered best first; ties keep the order they came in."""
    if not candidates:
        return []
    terms = query_words(query_terms)
    order = sorted(enumerate(candidates), key=lambda item: (-score(item[1], terms), item[0]))
    return [candidate for _, candidate in order]


def _plain(word: str) -> str:
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def matches_all(terms: list[str], *texts: str) -> bool:
    """Whether every term begins some word of ``texts``, as the FTS5 prefix query would match."""
    text_words = [word for text in texts for word in words(text)]
    return all(any(word.startswith(term) for word in text_words) for term in terms)


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
