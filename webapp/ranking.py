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


# A title gathering several books of a series ("Harry Potter Boxset", "Books
# 1-5") ranks after the books themselves, which readers mean far more often;
# a book numbered in its series ("Harry Potter, #2") gets a little ahead of
# other titles that merely share its words.
COLLECTION_PENALTY = 2.0
SERIES_BOOK_BONUS = 0.5
_COLLECTION = re.compile(
    r"\b(box(ed)?\s*set|boxset|collection|omnibus|complete series|trilogy set)\b"
    r"|\b\d+\s*-\s*\d+\b",
    re.IGNORECASE,
)
_SERIES_NUMBER = re.compile(r"^(?P<name>.*?),?\s*#\s*(?P<number>\S.*?)\s*$")
_SERIES_SPAN = re.compile(r"#\s*\d+(\.\d+)?\s*[-–,]")

# What a corrected spelling costs per edit, and the offset that keeps every
# match found only through a correction after every match of the words as
# typed (``scored_with_variants``).
EDIT_PENALTY = 1.0
CORRECTED_TIER = 100.0


@dataclass(frozen=True)
class Candidate:
    book_id: int
    title: str
    times_borrowed: int = 0
    author: str = ""
    series: str | None = None


def series_parts(series: str | None) -> tuple[str, str | None]:
    """A series field split into its name and number: "Harry Potter, #2" gives
    ("Harry Potter", "2"); one without a number gives (series, None)."""
    # Several series are kept as "First, #11; Second, #1": the first one counts.
    text = (series or "").split(";")[0].strip()
    found = _SERIES_NUMBER.match(text)
    if found and found.group("name").strip():
        return found.group("name").strip(), found.group("number")
    return text, None


def series_order(series: str | None) -> tuple[int, float, str]:
    """Where a book comes in its series: by number, books before collections
    ("#1-7"), unnumbered last."""
    number = series_parts(series)[1]
    found = re.match(r"\d+(\.\d+)?", number or "")
    if found is None:
        return (2, 0.0, number or "")
    return (1 if _SERIES_SPAN.search(series or "") else 0, float(found.group()), number or "")


def is_collection(title: str, series: str | None) -> bool:
    """Whether the title gathers several books (a box set, "Books 1-5", "#1-7")."""
    return bool(_COLLECTION.search(title) or (series and _SERIES_SPAN.search(series)))


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
    if is_collection(candidate.title, candidate.series):
        kind = -COLLECTION_PENALTY
    elif series_parts(candidate.series)[1]:
        kind = SERIES_BOOK_BONUS
    else:
        kind = 0.0
    return (
        (3.0 * text + 2.0 * in_title + 1.0 * whole_words + 0.5 * in_author) / len(terms)
        + starts_bonus
        + 0.5 * math.log1p(candidate.times_borrowed)
        - 0.1 * extra_words
        + kind
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


def scored_with_variants(
    candidates: list[Candidate], options: Sequence[Sequence[tuple[str, int]]]
) -> list[tuple[float, Candidate, tuple[str, ...]]]:
    """Candidates found through corrected spellings, best first, each with the
    spelling of each query word it matched.

    ``options`` holds, for each query word, its spellings with their edit
    distances (the word as typed first, at 0). Each candidate is scored as if
    the spellings it holds had been typed (one found in the title before one
    in the author), less ``EDIT_PENALTY`` per edit, and less
    ``CORRECTED_TIER``, so it ranks after every match of the words as typed.
    """
    ranked = []
    for index, candidate in enumerate(candidates):
        spaced_title = " " + " ".join(words(candidate.title))
        spaced_all = spaced_title + " " + " ".join(words(candidate.author))
        chosen: list[str] = []
        edits = 0
        for spellings in options:
            best = next(
                (pair for pair in spellings if _begins_a_word(pair[0], spaced_title)),
                next(
                    (pair for pair in spellings if _begins_a_word(pair[0], spaced_all)),
                    spellings[0],
                ),
            )
            chosen.append(best[0])
            edits += best[1]
        value = score(candidate, chosen) - EDIT_PENALTY * edits - CORRECTED_TIER
        ranked.append((value, index, candidate, tuple(chosen)))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    return [(value, candidate, chosen) for value, _, candidate, chosen in ranked]


def completed_word(spelling: str, *texts: str) -> str:
    """The first word of ``texts`` that ``spelling`` begins (what a corrected
    prefix was the start of), else ``spelling`` itself."""
    return next(
        (word for text in texts for word in words(text) if word.startswith(spelling)), spelling
    )


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


def title_sort_key(title: str) -> str:
    """A title as a catalogue files it: lower case, without a leading article."""
    return " ".join(_without_leading_article(words(title)))


def author_sort_key(author: str) -> str:
    """An author as a catalogue files them: the first author's surname first."""
    first = words(author.split(",")[0])
    return " ".join(first[-1:] + first[:-1] + words(author))


def sort_key(sort: str, item: tuple) -> tuple:
    """How ``sort`` orders a ranked item ``(score, book id, title, author, year,
    times borrowed, ...)``; matches found only through a corrected spelling stay
    after the others whatever the order."""
    value, book_id, title, author, year, times_borrowed = item[:6]
    tier = value < -CORRECTED_TIER / 2
    if sort == "title":
        return (tier, title_sort_key(title), book_id)
    if sort == "author":
        return (tier, author_sort_key(author), title_sort_key(title), book_id)
    if sort == "newest":
        return (tier, -(year if year is not None else -10_000), -book_id)
    if sort == "popular":
        return (tier, -times_borrowed, -book_id)
    return (tier, -value, book_id)


def mark_names(
    author: str, terms: list[str]
) -> tuple[tuple[str, tuple[tuple[str, bool], ...]], ...]:
    """Each of several authors ("First Author, Second Author") with its matched
    words marked, so each can link to a search for that author."""
    return tuple(
        (name.strip(), mark_matches(name.strip(), terms))
        for name in author.split(",")
        if name.strip()
    )
