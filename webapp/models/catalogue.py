"""Catalogue queries: search, a book with its copies, the empty-query lists."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, replace
from datetime import date
from typing import NamedTuple

from webapp import ranking, search_query
from webapp.db import Database
from webapp.models.search_vocabulary import CatalogueWords
from webapp.search_cache import SearchCache, Versions
from webapp.search_query import COMMON_WORDS, NO_FILTERS, SearchFilters, SearchQuery
from webapp.spelling import Vocabulary

# How many matches are read for one query, newest first. When there are no
# more, every match is ranked and the page shows the exact count. When there
# are more, the set is "huge" (``a`` matches a third of a million titles) and
# only a bounded candidate set is ranked: these newest matches and the matches
# among the most borrowed books. Reading stops at this many rows whatever the
# catalogue's size, so a keystroke costs about the same at 10k and 1M titles.
CANDIDATES = 100

# For a huge match set, the most borrowed books are scanned for matches, in
# this many rows, keeping at most POPULAR_CANDIDATES of them; and up to
# TITLE_START_CANDIDATES titles beginning with the typed text join them.
POPULAR_TIER = 500
POPULAR_CANDIDATES = 50
TITLE_START_CANDIDATES = 50

# How many of the best candidates are checked for a copy on the shelf.
SHELF_WINDOW = 40

# With a filter set, at most this many of the newest matches are checked
# against it, so a rare language costs a bounded read too; a match set larger
# than this counts as huge.
FILTER_SCAN = 2000

# A correction is offered ("Did you mean …") when the words as typed match at
# most this many books and the corrected words match more than twice as many.
SUGGEST_UP_TO = 5

# A copy is on the shelf: in stock, not lent, not set aside for a hold. Each
# test is one probe of a partial index (Loans_OneOpenLoanPerCopy,
# Holds_OneReadyHoldPerCopy).
_ON_SHELF = """EXISTS (
    SELECT 1 FROM Copies c
    WHERE c.BookID = b.BookID AND c.Status = 'in_stock'
      AND NOT EXISTS (SELECT 1 FROM Loans l WHERE l.CopyID = c.CopyID AND l.ReturnedAt IS NULL)
      AND NOT EXISTS (SELECT 1 FROM Holds h WHERE h.CopyID = c.CopyID AND h.Status = 'ready'))"""


# Availability and BookSummary are named tuples: the search cache keeps
# thousands of them, and tuples cost the cycle collector less than dataclasses.
class Availability(NamedTuple):
    """What a reader wants to know at a glance: is a copy on the shelf, and if not, when?"""

    copies: int = 0
    on_shelf: int = 0
    next_due_back: date | None = None
    # The item types of the title's copies in stock ("Book", "DVD"), in name order.
    item_types: tuple[str, ...] = ()


class BookSummary(NamedTuple):
    book_id: int
    title_parts: tuple[tuple[str, bool], ...]
    author_parts: tuple[tuple[str, bool], ...]
    year: int | None
    availability: Availability
    # Cataloguing: the cover's version (None: no cover) and the shelf mark.
    cover_version: int | None = None
    shelf_mark: str | None = None
    # "Harry Potter, #2": shown in results and linked to the series page.
    series: str | None = None
    # Each author with its matched words marked, each linked to a search for them.
    authors: tuple[tuple[str, tuple[tuple[str, bool], ...]], ...] = ()

    @property
    def title(self) -> str:
        """The title as the catalogue has it, without the marks of the matched words."""
        return "".join(text for text, _ in self.title_parts)

    @property
    def series_name(self) -> str:
        return ranking.series_parts(self.series)[0]

    @property
    def series_number(self) -> str | None:
        return ranking.series_parts(self.series)[1]


@dataclass(frozen=True)
class SearchPage:
    """One page of results. ``total`` is how many were ranked: every match, unless
    ``total_is_capped`` (a huge match set, of which only candidates were ranked)."""

    query: SearchQuery
    results: list[BookSummary]
    page: int
    per_page: int
    total: int
    total_is_capped: bool
    filters: SearchFilters = NO_FILTERS
    # "Did you mean …": the corrected words, when they match many more books.
    suggestion: str | None = None

    @property
    def has_more(self) -> bool:
        return self.page * self.per_page < self.total

    @property
    def past_the_end(self) -> bool:
        """A page number beyond the ranked matches (which are not none)."""
        return not self.results and self.total > 0


@dataclass(frozen=True)
class Book:
    book_id: int
    title: str
    author: str
    isbn: str | None
    series: str | None
    subjects: str | None
    publisher: str | None
    year: int | None
    language: str | None
    times_borrowed: int
    withdrawn: bool
    shelf_mark: str | None = None
    pages: int | None = None
    cover_version: int | None = None

    @property
    def series_name(self) -> str:
        return ranking.series_parts(self.series)[0]

    @property
    def series_number(self) -> str | None:
        return ranking.series_parts(self.series)[1]

    @property
    def subject_list(self) -> list[str]:
        """The subjects, each a search of its own ("Fantasy; Adventure")."""
        return [part.strip() for part in re.split(r"[;,]", self.subjects or "") if part.strip()]


@dataclass(frozen=True)
class CopyStatus:
    copy_id: int
    barcode: str
    location: str | None
    status: str
    due_back: date | None
    held_for_pickup: bool
    item_type: str = ""


def _availability(conn: sqlite3.Connection, book_ids: list[int]) -> dict[int, Availability]:
    if not book_ids:
        return {}
    placeholders = ",".join("?" * len(book_ids))
    rows = conn.execute(
        f"SELECT BookID, Copies, Availability, NextDueBack FROM BookAvailability "
        f"WHERE BookID IN ({placeholders})",
        book_ids,
    ).fetchall()
    item_types: dict[int, list[str]] = {}
    for book_id, name in conn.execute(
        f"SELECT DISTINCT c.BookID, it.Name FROM Copies c "
        f"JOIN ItemTypes it ON it.ItemTypeID = c.ItemTypeID "
        f"WHERE c.BookID IN ({placeholders}) AND c.Status = 'in_stock' ORDER BY it.Name",
        book_ids,
    ):
        item_types.setdefault(book_id, []).append(name)
    found = {
        row["BookID"]: Availability(
            copies=row["Copies"],
            on_shelf=row["Availability"],
            next_due_back=date.fromisoformat(row["NextDueBack"]) if row["NextDueBack"] else None,
            item_types=tuple(item_types.get(row["BookID"], ())),
        )
        for row in rows
    }
    return {book_id: found.get(book_id, Availability()) for book_id in book_ids}


async def availability_for(db: Database, book_ids: list[int]) -> dict[int, Availability]:
    """Availability of each book in ``book_ids`` (books without copies get the default)."""
    return await db.read(_availability, book_ids)


_NO_CACHE = SearchCache(entries=0)


@dataclass(frozen=True)
class Lookup:
    """What the search box found: the book an exact ISBN or copy barcode names
    (``direct_hit``, shown as the only result), or else a page of matches."""

    direct_hit: int | None
    page: SearchPage


async def lookup(
    db: Database,
    query: SearchQuery,
    page: int = 1,
    per_page: int = 20,
    cache: SearchCache | None = None,
    words: CatalogueWords | None = None,
    filters: SearchFilters = NO_FILTERS,
) -> Lookup:
    """The book an exact ISBN or copy barcode names, else a page of matches (``_search``):
    one reader call either way, since every keystroke of a one-word query may be a barcode.

    With ``words`` (the process's spelling vocabulary) words near a misspelt
    one match too, after the matches of the words as typed."""
    return await db.read(
        _lookup,
        query,
        page,
        per_page,
        _NO_CACHE if cache is None else cache,
        words,
        filters,
    )


def _lookup(
    conn: sqlite3.Connection,
    query: SearchQuery,
    page: int,
    per_page: int,
    cache: SearchCache,
    words: CatalogueWords | None,
    filters: SearchFilters,
) -> Lookup:
    # One statement for the direct hits and the cache's versions: an answer
    # from the cache is then a single SQLite call, and each call hands the GIL
    # to the event loop and waits to get it back.
    one_word = query.text if len(query.terms) == 1 and len(query.text) <= 64 else None
    state = conn.execute(
        """
        SELECT Catalogue, Circulation,
               (SELECT BookID FROM Books WHERE ISBN = ?) AS ByIsbn,
               (SELECT BookID FROM Copies WHERE Barcode = ?) AS ByBarcode,
               (SELECT max(ChangeID) FROM SearchVocabularyChanges) AS VocabularyChange
        FROM SearchVersions
        """,
        (query.isbn13, one_word),
    ).fetchone()
    book_id = state["ByIsbn"] if state["ByIsbn"] is not None else state["ByBarcode"]
    if book_id is not None:
        return Lookup(
            book_id, SearchPage(query, _summaries_of(conn, [book_id]), 1, per_page, 1, False)
        )
    if query.is_empty:
        return Lookup(None, SearchPage(query, [], page, per_page, 0, False, filters))
    versions = Versions(state["Catalogue"], state["Circulation"])
    vocabulary = None if words is None else words.current(conn, state["VocabularyChange"])
    return Lookup(None, _search(conn, query, page, per_page, cache, versions, vocabulary, filters))


class _Ranking(NamedTuple):
    """A query's candidates, best first before the shelf check.

    ``scored`` holds plain tuples (score, book id, title, author, year): the
    cache keeps hundreds of rankings, and Python's cycle collector stops
    tracking a plain tuple of numbers and strings, but never a named tuple or
    a dataclass, whose every instance it would walk on each full collection
    (measured: 100 ms pauses with a full cache of those, in the middle of a
    keystroke).
    """

    scored: tuple[tuple[float, int, str, str, int | None, int], ...]
    huge: bool
    # The words to mark in the results: as typed, and the corrected spellings matched.
    marked: tuple[str, ...] = ()
    suggestion: str | None = None


def _search(
    conn: sqlite3.Connection,
    query: SearchQuery,
    page: int,
    per_page: int,
    cache: SearchCache,
    versions: Versions,
    vocabulary: Vocabulary | None = None,
    filters: SearchFilters = NO_FILTERS,
) -> SearchPage:
    """One page of books matching ``query``, best first, with matched words marked.

    The index is read newest first and only ``CANDIDATES`` rows deep, so every
    keystroke costs about the same at any catalogue size; ``ranking.scored``
    orders what was read. bm25 is not used: it scores every match and counts
    every term's documents first, which costs hundreds of milliseconds for the
    first keystrokes at a million titles (and tens for ``lord of the r``, where
    ``of`` and ``the`` are in most titles) even when few books match them all.
    When more than ``CANDIDATES`` books match, the matches among the most
    borrowed books and the titles beginning with the typed text join the
    candidates, the page says "many results" instead of a count, and paging
    stops at the candidates: another letter narrows the set.

    Every query of a search runs in one trip to a reader's thread
    (``Database.read``): five small indexed queries cost less than the
    hand-offs between the event loop and the connection's thread they would
    otherwise need. With a ``cache``, a query typed again while the catalogue
    is unchanged skips finding and ranking (see ``webapp.search_cache``);
    ``versions`` are the cache's counters, read before anything else.
    """
    # The words and filters decide the answer; the text may differ in case or spacing.
    key = (query.terms, filters, vocabulary is not None)
    built = cache.page(key, versions, (page, per_page))
    if built is not None:
        return replace(built, query=query)
    found = cache.ranking(key, versions)
    if found is None:
        found = _rank(conn, query, filters, vocabulary)
        cache.keep_ranking(key, versions, found)
    built = _page(conn, query, found, page, per_page, filters)
    cache.keep_page(key, versions, (page, per_page), built)
    return built


def _narrowing(filters: SearchFilters) -> tuple[str, list]:
    """SQL conditions on a book ``b`` for the filters (each ``AND …``), and their values."""
    clauses: list[str] = []
    values: list = []
    if filters.language is not None:
        clauses.append("b.Language = ?")
        values.append(filters.language)
    if filters.year_from is not None:
        clauses.append("b.Year >= ?")
        values.append(filters.year_from)
    if filters.year_to is not None:
        clauses.append("b.Year <= ?")
        values.append(filters.year_to)
    if filters.available:
        clauses.append(_ON_SHELF)
    if filters.item_type is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM Copies c JOIN ItemTypes it ON it.ItemTypeID = c.ItemTypeID "
            "WHERE c.BookID = b.BookID AND c.Status <> 'withdrawn' "
            "AND it.Name = ? COLLATE NOCASE)"
        )
        values.append(filters.item_type)
    return "".join(f" AND {clause}" for clause in clauses), values


def _matches(
    conn: sqlite3.Connection, match: str, filters: SearchFilters, limit: int
) -> tuple[list, bool]:
    """The newest ``limit`` books the MATCH expression finds that pass the
    filters, and whether there are more."""
    narrowing, values = _narrowing(filters)
    if not filters.narrows:
        rows = conn.execute(
            """
            SELECT s.rowid AS BookID, b.Title, b.Author, b.Year, b.TimesBorrowed, b.Series
            FROM BooksSearch s JOIN Books b ON b.BookID = s.rowid
            WHERE BooksSearch MATCH ?
            ORDER BY s.rowid DESC LIMIT ?
            """,
            (match, limit + 1),
        ).fetchall()
        return rows[:limit], len(rows) > limit
    rows = conn.execute(
        f"""
        SELECT b.BookID, b.Title, b.Author, b.Year, b.TimesBorrowed, b.Series
        FROM (SELECT rowid FROM BooksSearch WHERE BooksSearch MATCH ?
              ORDER BY rowid DESC LIMIT ?) s
        JOIN Books b ON b.BookID = s.rowid
        WHERE 1{narrowing}
        ORDER BY s.rowid DESC LIMIT ?
        """,
        (match, FILTER_SCAN, *values, limit + 1),
    ).fetchall()
    if len(rows) > limit:
        return rows[:limit], True
    scanned = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM BooksSearch WHERE BooksSearch MATCH ? LIMIT ?)",
        (match, FILTER_SCAN),
    ).fetchone()[0]
    return rows, scanned >= FILTER_SCAN


def _candidates(rows) -> list[ranking.Candidate]:
    return [
        ranking.Candidate(
            book_id=row["BookID"],
            title=row["Title"],
            times_borrowed=row["TimesBorrowed"],
            author=row["Author"],
            series=row["Series"],
        )
        for row in rows
    ]


def _rank(
    conn: sqlite3.Connection,
    query: SearchQuery,
    filters: SearchFilters = NO_FILTERS,
    vocabulary: Vocabulary | None = None,
) -> _Ranking:
    rows, huge = _matches(conn, query.match_expression(), filters, CANDIDATES)
    if huge:
        rows = _unique(
            [
                *_popular_matches(conn, query, filters),
                *_title_start_matches(conn, query, filters),
                *rows,
            ]
        )
    details = {row["BookID"]: (row["Year"], row["TimesBorrowed"]) for row in rows}
    scored = [
        (value, candidate.book_id, candidate.title, candidate.author) + details[candidate.book_id]
        for value, candidate in ranking.scored(_candidates(rows), query.terms)
    ]
    marked = ranking.query_words(query.terms)
    suggestion = None
    spellings = None if huge or vocabulary is None else _spellings(query, vocabulary)
    if spellings:
        # Words near the typed ones, from the catalogue's vocabulary: their
        # matches rank after every match of the words as typed.
        exact_ids = set(details)
        fuzzy_rows, fuzzy_huge = _matches(conn, _fuzzy_match(spellings), filters, CANDIDATES)
        fuzzy_rows = [row for row in fuzzy_rows if row["BookID"] not in exact_ids]
        ranked = ranking.scored_with_variants(
            _candidates(fuzzy_rows), [[(text, edits) for text, edits, _ in s] for s in spellings]
        )
        fuzzy_details = {row["BookID"]: (row["Year"], row["TimesBorrowed"]) for row in fuzzy_rows}
        scored += [
            (value, candidate.book_id, candidate.title, candidate.author)
            + fuzzy_details[candidate.book_id]
            for value, candidate, _ in ranked
        ]
        huge = huge or fuzzy_huge
        used = {word for _, _, chosen in ranked[:20] for text in chosen for word in text.split()}
        marked = marked + sorted(used - set(marked))
        if ranked and len(details) <= SUGGEST_UP_TO:
            suggestion = _suggestion(conn, query, spellings, ranked[0], len(details), filters)
    return _Ranking(scored=tuple(scored), huge=huge, marked=tuple(marked), suggestion=suggestion)


def _spellings(
    query: SearchQuery, vocabulary: Vocabulary
) -> list[list[tuple[str, int, bool]]] | None:
    """For each required term, its spellings: (text, edits, matched as a prefix),
    the term as typed first; None when no term has another spelling.

    A finished word is compared with whole catalogue words, the last (still
    being typed) with their beginnings, each standing for the word in the most
    books that begins so (``Vocabulary.near_prefixes``). Initials typed together ("jk") are also
    looked for as the separate letters the index holds for "J.K.".
    """
    last = query.terms[-1]
    found: list[list[tuple[str, int, bool]]] = []
    any_other = False
    for term in query.required_terms:
        options = [(term, 0, True)]
        if term.isalpha() and term not in COMMON_WORDS:
            near = vocabulary.near_prefixes(term) if term == last else vocabulary.near_words(term)
            options += [(text, edits, False) for text, edits in near]
            if 2 <= len(term) <= 3:
                options.append((" ".join(term), 0, False))
        any_other = any_other or len(options) > 1
        found.append(options)
    return found if any_other else None


def _quoted(text: str, prefix: bool) -> str:
    return '"' + text.replace('"', '""') + '"' + ("*" if prefix else "")


def _fuzzy_match(spellings: list[list[tuple[str, int, bool]]]) -> str:
    """The FTS5 expression matching any spelling of every term."""
    return " AND ".join(
        "(" + " OR ".join(_quoted(text, prefix) for text, _, prefix in options) + ")"
        for options in spellings
    )


def _count(conn: sqlite3.Connection, match: str, filters: SearchFilters, enough: int) -> int:
    """How many books the MATCH expression finds that pass the filters, counted
    no further than ``enough``."""
    narrowing, values = _narrowing(filters)
    if not filters.narrows:
        return conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM BooksSearch WHERE BooksSearch MATCH ? LIMIT ?)",
            (match, enough),
        ).fetchone()[0]
    return conn.execute(
        f"""
        SELECT count(*) FROM (
            SELECT 1 FROM (SELECT rowid FROM BooksSearch WHERE BooksSearch MATCH ?
                           ORDER BY rowid DESC LIMIT ?) s
            JOIN Books b ON b.BookID = s.rowid
            WHERE 1{narrowing} LIMIT ?)
        """,
        (match, FILTER_SCAN, *values, enough),
    ).fetchone()[0]


def _suggestion(
    conn: sqlite3.Connection,
    query: SearchQuery,
    spellings: list[list[tuple[str, int, bool]]],
    best: tuple[float, ranking.Candidate, tuple[str, ...]],
    typed_matches: int,
    filters: SearchFilters,
) -> str | None:
    """The query with each corrected word spelt as the best corrected match has
    it, when that matches more than twice as many books as the words typed."""
    _, candidate, chosen = best
    replaced = {}
    for options, spelling in zip(spellings, chosen, strict=True):
        typed = options[0][0]
        if spelling != typed and " " not in spelling:
            replaced[typed] = ranking.completed_word(spelling, candidate.title, candidate.author)
    if not replaced:
        return None
    text = " ".join(replaced.get(term, term) for term in query.terms)
    corrected = search_query.parse(text)
    if corrected.is_empty:
        return None
    enough = 2 * typed_matches + 1
    if _count(conn, corrected.match_expression(), filters, enough) >= enough:
        return text
    return None


def _page(
    conn: sqlite3.Connection,
    query: SearchQuery,
    found: _Ranking,
    page: int,
    per_page: int,
    filters: SearchFilters = NO_FILTERS,
) -> SearchPage:
    if filters.sort == "relevance":
        # Whether a copy is on the shelf only breaks near-ties, and finding out
        # costs a few page reads per copy: ask only for the best SHELF_WINDOW
        # (whatever the page, so paging never repeats or skips a book).
        window = found.scored[:SHELF_WINDOW]
        availability = _availability(conn, [book_id for _, book_id, *_ in window])
        on_shelf = {book_id for book_id, known in availability.items() if known.on_shelf > 0}
        ordered = ranking.with_shelf(window, on_shelf) + list(found.scored[SHELF_WINDOW:])
    else:
        availability = {}
        ordered = sorted(found.scored, key=lambda item: ranking.sort_key(filters.sort, item))
    offset = (page - 1) * per_page
    page_rows = ordered[offset : offset + per_page]
    beyond_window = [book_id for _, book_id, *_ in page_rows if book_id not in availability]
    availability.update(_availability(conn, beyond_window))
    extras = _page_extras(conn, [book_id for _, book_id, *_ in page_rows])
    terms = list(found.marked) or ranking.query_words(query.terms)
    results = [
        BookSummary(
            book_id=book_id,
            title_parts=ranking.mark_matches(title, terms),
            author_parts=ranking.mark_matches(author, terms),
            year=year,
            availability=availability[book_id],
            cover_version=extras.get(book_id, (None, None, None))[0],
            shelf_mark=extras.get(book_id, (None, None, None))[1],
            series=extras.get(book_id, (None, None, None))[2],
            authors=ranking.mark_names(author, terms),
        )
        for _, book_id, title, author, year, *_ in page_rows
    ]
    return SearchPage(
        query=query,
        results=results,
        page=page,
        per_page=per_page,
        total=len(found.scored),
        total_is_capped=found.huge,
        filters=filters,
        suggestion=found.suggestion,
    )


def _page_extras(
    conn: sqlite3.Connection, book_ids: list[int]
) -> dict[int, tuple[int | None, str | None, str | None]]:
    """The cover version, shelf mark and series of the books on a results page: one lookup
    by primary key per book, in one statement, once per page built (the search cache keeps
    built pages), and nothing of the ranking's candidate reads changes."""
    if not book_ids:
        return {}
    placeholders = ",".join("?" * len(book_ids))
    return {
        row[0]: (row[1], row[2], row[3])
        for row in conn.execute(
            f"SELECT BookID, CoverVersion, ShelfMark, Series FROM Books "
            f"WHERE BookID IN ({placeholders})",
            book_ids,
        )
    }


def _unique(rows: list) -> list:
    seen: set[int] = set()
    kept = []
    for row in rows:
        if row["BookID"] not in seen:
            seen.add(row["BookID"])
            kept.append(row)
    return kept


def _popular_matches(
    conn: sqlite3.Connection, query: SearchQuery, filters: SearchFilters = NO_FILTERS
) -> list:
    """Books among the ``POPULAR_TIER`` most borrowed whose title or author matches,
    most borrowed first.

    Read from the covering popularity index alone, so the cost is fixed. LIKE
    narrows the rows cheaply (it cannot see word starts or diacritics, so it
    may let through a book the index would not match, or miss an accented
    one); ``ranking.matches_all`` then keeps exactly those whose title and
    author hold every required term. The terms hold only letters and digits
    (``ranking.words``), never a LIKE wildcard.
    """
    terms = [term for term in ranking.query_words(query.required_terms) if term]
    if not terms:
        return []
    likes = " AND ".join(["p.Title || ' ' || p.Author LIKE ?"] * len(terms))
    # The filters and the series need the book's row: joined only for the few
    # the LIKEs let through.
    narrowing, values = _narrowing(filters)
    rows = conn.execute(
        f"""
        SELECT p.BookID, p.Title, p.Author, p.Year, p.TimesBorrowed, b.Series FROM (
            SELECT BookID, Title, Author, Year, TimesBorrowed
            FROM Books INDEXED BY Books_ByPopularity
            WHERE TimesBorrowed > 0
            ORDER BY TimesBorrowed DESC, BookID DESC LIMIT ?
        ) p JOIN Books b ON b.BookID = p.BookID
        WHERE {likes}{narrowing}
        ORDER BY p.TimesBorrowed DESC, p.BookID DESC LIMIT ?
        """,
        (POPULAR_TIER, *[f"%{term}%" for term in terms], *values, POPULAR_CANDIDATES),
    ).fetchall()
    return [row for row in rows if ranking.matches_all(terms, row["Title"], row["Author"])]


def _title_start_matches(
    conn: sqlite3.Connection, query: SearchQuery, filters: SearchFilters = NO_FILTERS
) -> list:
    """Up to ``TITLE_START_CANDIDATES`` titles beginning with the typed words, with or
    without a leading "The", read in index order (a range scan on Books_TitleNoCase).

    Readers type the start of a title; when thousands of books match, this is
    what keeps "the lo" showing The Lord of the Rings. ``ranking.matches_all``
    drops any the FTS5 query would not match.
    """
    typed = " ".join(query.terms)
    if any(wildcard in typed for wildcard in "%_"):
        return []
    beginnings = [typed] if typed.startswith("the ") else [typed, f"the {typed}"]
    narrowing, values = _narrowing(filters)
    rows = conn.execute(
        " UNION ALL ".join(
            [
                (
                    "SELECT * FROM (SELECT b.BookID, b.Title, b.Author, b.Year, b.TimesBorrowed, "
                    f"b.Series FROM Books b WHERE b.Title LIKE ?{narrowing} LIMIT ?)"
                )
            ]
            * len(beginnings)
        ),
        [
            value
            for beginning in beginnings
            for value in (beginning + "%", *values, TITLE_START_CANDIDATES)
        ],
    ).fetchall()
    terms = [term for term in ranking.query_words(query.required_terms) if term]
    return [row for row in rows if ranking.matches_all(terms, row["Title"], row["Author"])]


def _summaries(conn: sqlite3.Connection, rows) -> list[BookSummary]:
    availability = _availability(conn, [row["BookID"] for row in rows])
    return [
        BookSummary(
            book_id=row["BookID"],
            title_parts=((row["Title"], False),),
            author_parts=((row["Author"], False),),
            year=row["Year"],
            availability=availability[row["BookID"]],
            cover_version=row["CoverVersion"],
            shelf_mark=row["ShelfMark"],
            series=row["Series"],
            authors=ranking.mark_names(row["Author"], []),
        )
        for row in rows
    ]


def _summaries_of(conn: sqlite3.Connection, book_ids: list[int]) -> list[BookSummary]:
    if not book_ids:
        return []
    placeholders = ",".join("?" * len(book_ids))
    rows = conn.execute(
        "SELECT BookID, Title, Author, Year, CoverVersion, ShelfMark, Series FROM Books "
        f"WHERE BookID IN ({placeholders})",
        book_ids,
    ).fetchall()
    by_id = {row["BookID"]: row for row in rows}
    return _summaries(conn, [by_id[book_id] for book_id in book_ids if book_id in by_id])


async def recent_arrivals(db: Database, limit: int = 10) -> list[BookSummary]:
    """The newest titles in the catalogue, for the empty search page."""
    return await db.read(
        lambda conn: _summaries(
            conn,
            conn.execute(
                "SELECT BookID, Title, Author, Year, CoverVersion, ShelfMark, Series FROM Books "
                "WHERE WithdrawnAt IS NULL ORDER BY BookID DESC LIMIT ?",
                (limit,),
            ).fetchall(),
        )
    )


async def most_borrowed(db: Database, limit: int = 10) -> list[BookSummary]:
    """The titles lent most often, for the empty search page."""
    return await db.read(
        lambda conn: _summaries(
            conn,
            conn.execute(
                "SELECT BookID, Title, Author, Year, CoverVersion, ShelfMark, Series FROM Books "
                "WHERE WithdrawnAt IS NULL AND TimesBorrowed > 0 "
                "ORDER BY TimesBorrowed DESC, BookID DESC LIMIT ?",
                (limit,),
            ).fetchall(),
        )
    )


def _languages(conn: sqlite3.Connection) -> list[str]:
    # Skips from one language to the next through Books_ByLanguage: a probe
    # per language, not a read of every book.
    rows = conn.execute(
        """
        WITH RECURSIVE Found (Language) AS (
            SELECT min(Language) FROM Books
            UNION ALL
            SELECT (SELECT min(Language) FROM Books WHERE Language > Found.Language)
            FROM Found WHERE Found.Language IS NOT NULL
        )
        SELECT Language FROM Found WHERE Language IS NOT NULL
        """
    ).fetchall()
    return [row[0] for row in rows]


async def item_type_names(db: Database) -> list[str]:
    """Every item type's name, for the search filter."""
    return await db.read(
        lambda conn: [row[0] for row in conn.execute("SELECT Name FROM ItemTypes ORDER BY Name")]
    )


async def languages(db: Database) -> list[str]:
    """Every language the catalogue holds books in, for the search filter."""
    return await db.read(_languages)


def _series_books(conn: sqlite3.Connection, name: str) -> list[BookSummary]:
    # "Harry Potter" and "Harry Potter, #1" … "Harry Potter, #8" (or "Watch #3"):
    # ranges on Books_BySeries.
    rows = conn.execute(
        """
        SELECT BookID, Title, Author, Year, CoverVersion, ShelfMark, Series FROM Books
        WHERE (Series = ? OR (Series >= ? AND Series < ?) OR (Series >= ? AND Series < ?))
          AND WithdrawnAt IS NULL
        LIMIT 500
        """,
        (name, name + ",", name + "-", name + " #", name + " $"),
    ).fetchall()
    rows = [row for row in rows if ranking.series_parts(row["Series"])[0] == name]
    rows.sort(key=lambda row: (ranking.series_order(row["Series"]), row["Year"] or 0))
    return _summaries(conn, rows)


async def series_books(db: Database, name: str) -> list[BookSummary]:
    """The books of the series ``name``, in their order in it (collections after)."""
    return await db.read(_series_books, name)


async def find_book_by_isbn(db: Database, isbn13: str) -> int | None:
    return await db.fetch_value("SELECT BookID FROM Books WHERE ISBN = ?", (isbn13,))


async def find_book_by_barcode(db: Database, barcode: str) -> int | None:
    return await db.fetch_value("SELECT BookID FROM Copies WHERE Barcode = ?", (barcode,))


async def get_book(db: Database, book_id: int) -> Book | None:
    row = await db.fetch_one("SELECT * FROM Books WHERE BookID = ?", (book_id,))
    if row is None:
        return None
    return Book(
        book_id=row["BookID"],
        title=row["Title"],
        author=row["Author"],
        isbn=row["ISBN"],
        series=row["Series"],
        subjects=row["Subjects"],
        publisher=row["Publisher"],
        year=row["Year"],
        language=row["Language"],
        times_borrowed=row["TimesBorrowed"],
        withdrawn=row["WithdrawnAt"] is not None,
        shelf_mark=row["ShelfMark"],
        pages=row["Pages"],
        cover_version=row["CoverVersion"],
    )


async def copies_of(db: Database, book_id: int) -> list[CopyStatus]:
    """Each copy of a book with its barcode and where it is (shelf, loan, hold shelf)."""
    rows = await db.fetch_all(
        """
        SELECT c.CopyID, c.Barcode, c.Location, c.Status, l.ReturnDate,
               h.HoldID IS NOT NULL AS HeldForPickup, it.Name AS ItemType
        FROM Copies c
        LEFT JOIN ItemTypes it ON it.ItemTypeID = c.ItemTypeID
        LEFT JOIN Loans l ON l.CopyID = c.CopyID AND l.ReturnedAt IS NULL
        LEFT JOIN Holds h ON h.CopyID = c.CopyID AND h.Status = 'ready'
        WHERE c.BookID = ?
        ORDER BY c.Status = 'in_stock' DESC, c.Barcode
        """,
        (book_id,),
    )
    return [
        CopyStatus(
            copy_id=row["CopyID"],
            barcode=row["Barcode"],
            location=row["Location"],
            status=row["Status"],
            due_back=date.fromisoformat(row["ReturnDate"]) if row["ReturnDate"] else None,
            held_for_pickup=bool(row["HeldForPickup"]),
            item_type=row["ItemType"] or "",
        )
        for row in rows
    ]
