"""Catalogue queries: search, a book with its copies, the empty-query lists."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from datetime import date
from typing import NamedTuple

from webapp import ranking
from webapp.db import Database
from webapp.search_cache import SearchCache, Versions
from webapp.search_query import SearchQuery

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

    @property
    def has_more(self) -> bool:
        return self.page * self.per_page < self.total


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
) -> Lookup:
    """The book an exact ISBN or copy barcode names, else a page of matches (``_search``):
    one reader call either way, since every keystroke of a one-word query may be a barcode."""
    return await db.read(_lookup, query, page, per_page, _NO_CACHE if cache is None else cache)


def _lookup(
    conn: sqlite3.Connection, query: SearchQuery, page: int, per_page: int, cache: SearchCache
) -> Lookup:
    # One statement for the direct hits and the cache's versions: an answer
    # from the cache is then a single SQLite call, and each call hands the GIL
    # to the event loop and waits to get it back.
    one_word = query.text if len(query.terms) == 1 and len(query.text) <= 64 else None
    state = conn.execute(
        """
        SELECT Catalogue, Circulation,
               (SELECT BookID FROM Books WHERE ISBN = ?) AS ByIsbn,
               (SELECT BookID FROM Copies WHERE Barcode = ?) AS ByBarcode
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
        return Lookup(None, SearchPage(query, [], page, per_page, 0, False))
    versions = Versions(state["Catalogue"], state["Circulation"])
    return Lookup(None, _search(conn, query, page, per_page, cache, versions))


class _Ranking(NamedTuple):
    """A query's candidates, best first before the shelf check.

    ``scored`` holds plain tuples (score, book id, title, author, year): the
    cache keeps hundreds of rankings, and Python's cycle collector stops
    tracking a plain tuple of numbers and strings, but never a named tuple or
    a dataclass, whose every instance it would walk on each full collection
    (measured: 100 ms pauses with a full cache of those, in the middle of a
    keystroke).
    """

    scored: tuple[tuple[float, int, str, str, int | None], ...]
    huge: bool


def _search(
    conn: sqlite3.Connection,
    query: SearchQuery,
    page: int,
    per_page: int,
    cache: SearchCache,
    versions: Versions,
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
    # The words decide the answer; the text may differ in case or spacing.
    key = query.terms
    built = cache.page(key, versions, (page, per_page))
    if built is not None:
        return replace(built, query=query)
    found = cache.ranking(key, versions)
    if found is None:
        found = _rank(conn, query)
        cache.keep_ranking(key, versions, found)
    built = _page(conn, query, found, page, per_page)
    cache.keep_page(key, versions, (page, per_page), built)
    return built


def _rank(conn: sqlite3.Connection, query: SearchQuery) -> _Ranking:
    rows = conn.execute(
        """
        SELECT s.rowid AS BookID, b.Title, b.Author, b.Year, b.TimesBorrowed
        FROM BooksSearch s JOIN Books b ON b.BookID = s.rowid
        WHERE BooksSearch MATCH ?
        ORDER BY s.rowid DESC LIMIT ?
        """,
        (query.match_expression(), CANDIDATES + 1),
    ).fetchall()
    huge = len(rows) > CANDIDATES
    if huge:
        rows = _unique(
            [
                *_popular_matches(conn, query),
                *_title_start_matches(conn, query),
                *rows[:CANDIDATES],
            ]
        )
    candidates = [
        ranking.Candidate(
            book_id=row["BookID"],
            title=row["Title"],
            times_borrowed=row["TimesBorrowed"],
            author=row["Author"],
        )
        for row in rows
    ]
    years = {row["BookID"]: row["Year"] for row in rows}
    return _Ranking(
        scored=tuple(
            (score, candidate.book_id, candidate.title, candidate.author, years[candidate.book_id])
            for score, candidate in ranking.scored(candidates, query.terms)
        ),
        huge=huge,
    )


def _page(
    conn: sqlite3.Connection, query: SearchQuery, found: _Ranking, page: int, per_page: int
) -> SearchPage:
    # Whether a copy is on the shelf only breaks near-ties, and finding out
    # costs a few page reads per copy: ask only for the best SHELF_WINDOW
    # (whatever the page, so paging never repeats or skips a book).
    window = found.scored[:SHELF_WINDOW]
    availability = _availability(conn, [book_id for _, book_id, *_ in window])
    on_shelf = {book_id for book_id, known in availability.items() if known.on_shelf > 0}
    ordered = ranking.with_shelf(window, on_shelf) + list(found.scored[SHELF_WINDOW:])
    offset = (page - 1) * per_page
    page_rows = ordered[offset : offset + per_page]
    beyond_window = [book_id for _, book_id, *_ in page_rows if book_id not in availability]
    availability.update(_availability(conn, beyond_window))
    terms = ranking.query_words(query.terms)
    shelf = _cover_and_shelf_mark(conn, [book_id for _, book_id, *_ in page_rows])
    results = [
        BookSummary(
            book_id=book_id,
            title_parts=ranking.mark_matches(title, terms),
            author_parts=ranking.mark_matches(author, terms),
            year=year,
            availability=availability[book_id],
            cover_version=shelf.get(book_id, (None, None))[0],
            shelf_mark=shelf.get(book_id, (None, None))[1],
        )
        for _, book_id, title, author, year in page_rows
    ]
    return SearchPage(
        query=query,
        results=results,
        page=page,
        per_page=per_page,
        total=len(found.scored),
        total_is_capped=found.huge,
    )


def _cover_and_shelf_mark(
    conn: sqlite3.Connection, book_ids: list[int]
) -> dict[int, tuple[int | None, str | None]]:
    """The cover version and shelf mark of the books on a results page: one lookup by
    primary key per book, in one statement, once per page built (the search cache keeps
    built pages), and nothing of the ranking's candidate reads changes."""
    if not book_ids:
        return {}
    placeholders = ",".join("?" * len(book_ids))
    return {
        row[0]: (row[1], row[2])
        for row in conn.execute(
            f"SELECT BookID, CoverVersion, ShelfMark FROM Books WHERE BookID IN ({placeholders})",
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


def _popular_matches(conn: sqlite3.Connection, query: SearchQuery) -> list:
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
    likes = " AND ".join(["Title || ' ' || Author LIKE ?"] * len(terms))
    rows = conn.execute(
        f"""
        SELECT BookID, Title, Author, Year, TimesBorrowed FROM (
            SELECT BookID, Title, Author, Year, TimesBorrowed
            FROM Books INDEXED BY Books_ByPopularity
            WHERE TimesBorrowed > 0
            ORDER BY TimesBorrowed DESC, BookID DESC LIMIT ?
        )
        WHERE {likes}
        ORDER BY TimesBorrowed DESC, BookID DESC LIMIT ?
        """,
        (POPULAR_TIER, *[f"%{term}%" for term in terms], POPULAR_CANDIDATES),
    ).fetchall()
    return [row for row in rows if ranking.matches_all(terms, row["Title"], row["Author"])]


def _title_start_matches(conn: sqlite3.Connection, query: SearchQuery) -> list:
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
    rows = conn.execute(
        " UNION ALL ".join(
            [
                (
                    "SELECT * FROM (SELECT BookID, Title, Author, Year, TimesBorrowed FROM Books "
                    "WHERE Title LIKE ? LIMIT ?)"
                )
            ]
            * len(beginnings)
        ),
        [value for beginning in beginnings for value in (beginning + "%", TITLE_START_CANDIDATES)],
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
        )
        for row in rows
    ]


def _summaries_of(conn: sqlite3.Connection, book_ids: list[int]) -> list[BookSummary]:
    if not book_ids:
        return []
    placeholders = ",".join("?" * len(book_ids))
    rows = conn.execute(
        "SELECT BookID, Title, Author, Year, CoverVersion, ShelfMark FROM Books "
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
                "SELECT BookID, Title, Author, Year, CoverVersion, ShelfMark FROM Books "
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
                "SELECT BookID, Title, Author, Year, CoverVersion, ShelfMark FROM Books "
                "WHERE WithdrawnAt IS NULL AND TimesBorrowed > 0 "
                "ORDER BY TimesBorrowed DESC, BookID DESC LIMIT ?",
                (limit,),
            ).fetchall(),
        )
    )


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
