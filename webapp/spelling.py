"""Catalogue words near a misspelt one. No database: callers feed it the words.

Students misspell ("tolkein", "hary poter"), so search also looks for the
catalogue's own words within a few edits of each typed word: one edit for a
word of ``ONE_EDIT_FROM`` letters or more, two from ``TWO_EDITS_FROM``. An edit
is a letter inserted, dropped, replaced, or two neighbours swapped (the
optimal string alignment distance, ``rapidfuzz.distance.OSA``, computed in C
with bit-parallel rows, so comparing a word with every catalogue word of a
similar length costs about a millisecond per 15,000 words).

The words come from FTS5's own vocabulary (``BooksSearchVocabulary``, an
``fts5vocab`` table over the index), so a correction is always a word some
book holds, spelt as the index spells it. The last word of a query is still
being typed: it is compared with the *beginnings* of catalogue words of about
its length, so "tolkei" finds "tolkie…" and then Tolkien.

A ``Vocabulary`` is shared by the reader threads of one process. It is never
changed in place: ``add`` builds new tables and swaps them in, so a lookup
running meanwhile sees the old tables or the new ones, whole.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rapidfuzz import process
from rapidfuzz.distance import OSA

ONE_EDIT_FROM = 4
TWO_EDITS_FROM = 8
# At most this many near words per typed word join the query (the closest,
# then the ones in the most books): enough for the word meant, few enough
# that the FTS5 query stays a handful of doclists.
MAX_VARIANTS = 8
# Beginnings of catalogue words are tabled ahead for these lengths; longer
# ones are tabled when first asked for.
PREFIX_LENGTHS_AHEAD = range(3, 13)
# How many answers are remembered before they are all forgotten at once.
MAX_ANSWERS = 20_000


def tolerance(word: str) -> int:
    """How many edits a typed word may be from a catalogue word."""
    if len(word) >= TWO_EDITS_FROM:
        return 2
    if len(word) >= ONE_EDIT_FROM:
        return 1
    return 0


@dataclass(frozen=True)
class _Tables:
    """Catalogue words with the number of books holding each, by length, and
    the distinct beginnings of each length (with the most books any word
    beginning so is in)."""

    books: dict[str, int]
    by_length: dict[int, list[str]]
    prefixes: dict[int, dict[str, tuple[int, str]]] = field(default_factory=dict)
    # Answers already given, by (word, as a prefix): each keystroke asks again
    # for every word typed before it. Thrown away with the tables.
    answers: dict[tuple[str, bool], list[tuple[str, int]]] = field(default_factory=dict)


def _tables(books: dict[str, int]) -> _Tables:
    by_length: dict[int, list[str]] = {}
    for word in books:
        by_length.setdefault(len(word), []).append(word)
    tables = _Tables(books, by_length)
    for length in PREFIX_LENGTHS_AHEAD:
        tables.prefixes[length] = _prefixes_of(books, length)
    return tables


def _prefixes_of(books: dict[str, int], length: int) -> dict[str, tuple[int, str]]:
    """Each beginning of this length, with the word in the most books that begins so."""
    prefixes: dict[str, tuple[int, str]] = {}
    for word, count in books.items():
        if len(word) >= length:
            start = word[:length]
            if prefixes.get(start, (0, ""))[0] < count:
                prefixes[start] = (count, word)
    return prefixes


def is_spellable(word: str) -> bool:
    """Words worth correcting towards: letters only (numbers and ISBNs are
    typed exactly) and long enough to be within two edits of a typed word."""
    return len(word) >= ONE_EDIT_FROM - 1 and word.isalpha()


class Vocabulary:
    """The catalogue's words, for finding the ones near a typed word."""

    def __init__(self, words: Iterable[tuple[str, int]] = ()) -> None:
        self._lock = threading.Lock()
        self._tables = _tables({word: count for word, count in words if is_spellable(word)})

    def __len__(self) -> int:
        return len(self._tables.books)

    def add(self, words: Iterable[tuple[str, int]]) -> None:
        """Add words (with how many more books hold them) from books added or changed.

        Copies the tables and changes the copies (a few milliseconds, never a
        rebuild), so lookups running meanwhile are undisturbed."""
        new = [(word, count) for word, count in words if is_spellable(word)]
        if not new:
            return
        with self._lock:
            old = self._tables
            books = dict(old.books)
            by_length = dict(old.by_length)
            prefixes = {length: dict(table) for length, table in old.prefixes.items()}
            for word, count in new:
                if word not in books:
                    by_length[len(word)] = [*by_length.get(len(word), []), word]
                books[word] = books.get(word, 0) + count
                for length, table in prefixes.items():
                    if len(word) >= length and table.get(word[:length], (0, ""))[0] < books[word]:
                        table[word[:length]] = (books[word], word)
            self._tables = _Tables(books, by_length, prefixes)

    def books_with(self, word: str) -> int:
        return self._tables.books.get(word, 0)

    def near_words(self, word: str) -> list[tuple[str, int]]:
        """Catalogue words within ``tolerance(word)`` edits of ``word`` (not the
        word itself), each with its distance: the closest first, then those in
        the most books."""
        return self._remembered(word, False)

    def near_prefixes(self, prefix: str) -> list[tuple[str, int]]:
        """Catalogue words beginning within ``tolerance(prefix)`` edits of the
        unfinished ``prefix``, each with that distance: for each near beginning,
        the word in the most books that begins so ("tolkei" gives "tolkien").

        Whole words, not beginnings, go to the index: a beginning such as
        "phil" would make FTS5 gather every word it begins (75,000 books at a
        million titles) on every keystroke."""
        return self._remembered(prefix, True)

    def _remembered(self, word: str, as_prefix: bool) -> list[tuple[str, int]]:
        tables = self._tables
        found = tables.answers.get((word, as_prefix))
        if found is None:
            if as_prefix:
                found = self._near_prefixes(tables, word)
            else:
                found = self._nearest(
                    word, lambda text: tables.books.get(text, 0), tables.by_length
                )
            if len(tables.answers) >= MAX_ANSWERS:
                tables.answers.clear()
            tables.answers[(word, as_prefix)] = found
        return found

    def _near_prefixes(self, tables: _Tables, prefix: str) -> list[tuple[str, int]]:
        allowed = tolerance(prefix)
        if not allowed:
            return []
        tables_by_length: dict[int, dict[str, tuple[int, str]]] = {}
        for length in range(len(prefix) - allowed, len(prefix) + allowed + 1):
            if length < ONE_EDIT_FROM - 1:
                continue
            table = tables.prefixes.get(length)
            if table is None:
                table = _prefixes_of(tables.books, length)
                with self._lock:
                    tables.prefixes[length] = table
            tables_by_length[length] = table
        near = self._nearest(
            prefix,
            lambda text: tables_by_length[len(text)][text][0],
            {length: list(table) for length, table in tables_by_length.items()},
            limit=None,
        )
        words: dict[str, int] = {}
        for start, distance in near:
            word = tables_by_length[len(start)][start][1]
            # A word the prefix as typed begins is matched already.
            if not word.startswith(prefix) and word not in words:
                words[word] = distance
        return list(words.items())[:MAX_VARIANTS]

    @staticmethod
    def _nearest(
        word: str,
        books: Callable[[str], int],
        by_length: dict[int, list[str]],
        limit: int | None = MAX_VARIANTS,
    ) -> list[tuple[str, int]]:
        allowed = tolerance(word)
        if not allowed:
            return []
        found: list[tuple[str, int]] = []
        for length in range(len(word) - allowed, len(word) + allowed + 1):
            choices = by_length.get(length)
            if not choices:
                continue
            found += [
                (choice, int(distance))
                for choice, distance, _ in process.extract(
                    word, choices, scorer=OSA.distance, score_cutoff=allowed, limit=None
                )
                if choice != word
            ]
        found.sort(key=lambda item: (item[1], -books(item[0]), item[0]))
        return found[:limit]
