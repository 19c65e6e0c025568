"""The catalogue's words for spelling tolerance, read from the search index and kept in step.

A process reads FTS5's vocabulary of the search index whole once
(``BooksSearchVocabulary``, an ``fts5vocab`` table, sql/0008), normally in the
background as the server starts, and from then on only the words of the books
logged in ``SearchVocabularyChanges`` (added or retitled, by any process) after
the last change it read: one indexed query per search when nothing changed.
Words of books removed or retitled stay until the process restarts; a
correction must still match books to be used, so a stale word costs nothing.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter

from webapp import ranking
from webapp.spelling import Vocabulary


class CatalogueWords:
    """One process's spelling vocabulary, and the last change to the catalogue it holds."""

    def __init__(self) -> None:
        self.vocabulary: Vocabulary | None = None
        self.last_change = 0
        self._lock = threading.Lock()

    def current(self, conn: sqlite3.Connection, latest_change: int | None) -> Vocabulary:
        """The vocabulary with every book logged up to ``latest_change`` in it,
        read whole first if this process has not read it yet."""
        vocabulary = self.vocabulary
        if vocabulary is not None and (latest_change or 0) <= self.last_change:
            return vocabulary
        with self._lock:
            if self.vocabulary is None:
                self._read_whole(conn)
            else:
                self._read_changes(conn)
            assert self.vocabulary is not None
            return self.vocabulary

    def _read_whole(self, conn: sqlite3.Connection) -> None:
        # The log's position first: a book added between the two reads is then
        # read again with the changes, which only adds to its words' counts.
        self.last_change = _latest_change(conn)
        rows = conn.execute(
            "SELECT term, doc FROM BooksSearchVocabulary "
            "WHERE length(term) >= 3 AND term NOT GLOB '*[0-9]*'"
        ).fetchall()
        self.vocabulary = Vocabulary((row[0], row[1]) for row in rows)

    def _read_changes(self, conn: sqlite3.Connection) -> None:
        first = conn.execute("SELECT min(ChangeID) FROM SearchVocabularyChanges").fetchone()[0]
        if first is not None and first > self.last_change + 1:
            # The changes this process has not read were dropped from the log.
            self._read_whole(conn)
            return
        latest = _latest_change(conn)
        rows = conn.execute(
            """
            SELECT DISTINCT b.BookID, b.Title, b.Author, b.Series, b.Subjects
            FROM SearchVocabularyChanges c JOIN Books b ON b.BookID = c.BookID
            WHERE c.ChangeID > ? AND c.ChangeID <= ?
            """,
            (self.last_change, latest),
        ).fetchall()
        counts: Counter[str] = Counter()
        for row in rows:
            text = " ".join(value or "" for value in tuple(row)[1:])
            counts.update(set(ranking.words(text)))
        assert self.vocabulary is not None
        self.vocabulary.add(counts.items())
        self.last_change = latest


def _latest_change(conn: sqlite3.Connection) -> int:
    return conn.execute(
        "SELECT coalesce(max(ChangeID), 0) FROM SearchVocabularyChanges"
    ).fetchone()[0]


def load(conn: sqlite3.Connection, words: CatalogueWords) -> int:
    """Read the vocabulary now (at start-up, so no keystroke waits for it); its size."""
    return len(words.current(conn, None))
