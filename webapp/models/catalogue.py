"""Catalogue queries: search, a book with its copies, the empty-query lists."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from webapp import ranking
from webapp.db import Database
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


@dataclass(frozen=True)
class Availability:
    """What a reader wants to know at a glance: is a copy on the shelf, and if not, when?"""

    copies: int = 0
    on_shelf: int = 0
    next_due_back: date | None = None


@dataclass(frozen=True)
class BookSummary:
    book_id: int
    title_parts: tuple[tuple[str, bool], ...]
    author_parts: tuple[tuple[str, bool], ...]
    year: int | None
    availability: Availability


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


@dataclass(frozen=True)
class CopyStatus:
    copy_id: int
    barcode: str
    location: str | None
    status: str
    due_back: date | None
    held_for_pickup: bool


async def availability_for(db: Database, book_ids: list[int]) -> dict[int, Availability]:
    """Availability of each book in ``book_ids`` (books without copies get the default)."""
    if not book_ids:
        return {}
    placeholders = ",".join("?" * len(book_ids))
    rows = await db.fetch_all(
        f"SELECT BookID, Copies, Availability, NextDueBack FROM BookAvailability "
        f"WHERE BookID IN ({placeholders})",
        book_ids,
    )
    found = {
        row["BookID"]: Availability(
            copies=row["Copies"],
            on_shelf=row["Availability"],
            next_due_back=date.fromisoformat(row["NextDueBack"]) if row["NextDueBack"] else None,
        )
        for row in rows
    }
    return {book_id: found.get(book_id, Availability()) for book_id in book_ids}


async def search(db: Database, query: SearchQuery, page: int = 1, per_page: int = 20) -> SearchPage:
    """One page of books matching ``query``, best first, with matched words marked.

    The index is read newest first and only ``CANDIDATES`` rows deep, so every
    keystroke costs about the same at any catalogue size; ``ranking.rerank``
    orders what was read. bm25 is not used: it scores every match and counts
    every term's documents first, which costs hundreds of milliseconds for the
    first keystrokes at a million titles (and tens for ``lord of the r``, where
    ``of`` and ``the`` are in most titles) even when few books match them all.
    When more than ``CANDIDATES`` books match, the matches among the most
    borrowed books and the titles beginning with the typed text join the
    candidates, the page says "many results" instead of a count, and paging
    stops at the candidates: another letter narrows the set.
    """
    if query.is_empty:
        return SearchPage(query, [], page, per_page, 0, False)
    match = query.match_expression()
    rows = await db.fetch_all(
        """
        SELECT s.rowid AS BookID, b.Title, b.Author, b.Year, b.TimesBorrowed
        FROM BooksSearch s JOIN Books b ON b.BookID = s.rowid
        WHERE BooksSearch MATCH ?
        ORDER BY s.rowid DESC LIMIT ?
        """,
        (match, CANDIDATES + 1),
    )
    huge = len(rows) > CANDIDATES
    if huge:
        rows = _unique([
            *await _popular_matches(db, query),
            *await _title_start_matches(db, query),
            *rows[:CANDIDATES],
        ])
    terms = ranking.query_words(query.terms)
    candidates = [
        ranking.Candidate(
            book_id=row["BookID"],
            title=row["Title"],
            times_borrowed=row["TimesBorrowed"],
            author=row["Author"],
        )
        for row in rows
    ]
    ranked = ranking.rerank(candidates, query.terms)
    # Whether a copy is on the shelf only breaks near-ties, and finding out
    # costs a few page reads per copy: ask only for the best SHELF_WINDOW
    # (whatever the page, so paging never repeats or skips a book).
    window = ranked[:SHELF_WINDOW]
    availability = await availability_for(db, [candidate.book_id for candidate in window])
    ordered = ranking.rerank(
        [replace(candidate, on_shelf=availability[candidate.book_id].on_shelf > 0)
         for candidate in window],
        query.terms,
    ) + ranked[SHELF_WINDOW:]
    by_id = {row["BookID"]: row for row in rows}
    offset = (page - 1) * per_page
    page_rows = [by_id[candidate.book_id] for candidate in ordered[offset : offset + per_page]]
    beyond_window = [row["BookID"] for row in page_rows if row["BookID"] not in availability]
    availability.update(await availability_for(db, beyond_window))
    results = [
        BookSummary(
            book_id=row["BookID"],
            title_parts=ranking.mark_matches(row["Title"], terms),
            author_parts=ranking.mark_matches(row["Author"], terms),
            year=row["Year"],
            availability=availability[row["BookID"]],
        )
        for row in page_rows
    ]
    return SearchPage(
        query=query,
        results=results,
        page=page,
        per_page=per_page,
        total=len(rows),
        total_is_capped=huge,
    )


def _unique(rows: list) -> list:
    seen: set[int] = set()
    kept = []
    for row in rows:
        if row["BookID"] not in seen:
            seen.add(row["BookID"])
            kept.append(row)
    return kept


async def _popular_matches(db: Database, query: SearchQuery) -> list:
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
    rows = await db.fetch_all(
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
    )
    return [row for row in rows if ranking.matches_all(terms, row["Title"], row["Author"])]


async def _title_start_matches(db: Database, query: SearchQuery) -> list:
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
    rows = await db.fetch_all(
        " UNION ALL ".join(
            ["SELECT * FROM (SELECT BookID, Title, Author, Year, TimesBorrowed FROM Books "
             "WHERE Title LIKE ? LIMIT ?)"] * len(beginnings)
        ),
        [value for beginning in beginnings for value in (beginning + "%", TITLE_START_CANDIDATES)],
    )
    terms = [term for term in ranking.query_words(query.required_terms) if term]
    return [row for row in rows if ranking.matches_all(terms, row["Title"], row["Author"])]


async def _summaries(db: Database, rows) -> list[BookSummary]:
    availability = await availability_for(db, [row["BookID"] for row in rows])
    return [
        BookSummary(
            book_id=row["BookID"],
            title_parts=((row["Title"], False),),
            author_parts=((row["Author"], False),),
            year=row["Year"],
            availability=availability[row["BookID"]],
        )
        for row in rows
    ]


async def summaries(db: Database, book_ids: list[int]) -> list[BookSummary]:
    """Summaries of the given books, in the given order, without highlighting."""
    if not book_ids:
        return []
    placeholders = ",".join("?" * len(book_ids))
    rows = await db.fetch_all(
        f"SELECT BookID, Title, Author, Year FROM Books "
        f"WHERE BookID IN ({placeholders})",
        book_ids,
    )
    by_id = {row["BookID"]: row for row in rows}
    return await _summaries(db, [by_id[book_id] for book_id in book_ids if book_id in by_id])


async def recent_arrivals(db: Database, limit: int = 10) -> list[BookSummary]:
    """The newest titles in the catalogue, for the empty search page."""
    rows = await db.fetch_all(
        "SELECT BookID, Title, Author, Year FROM Books "
        "WHERE WithdrawnAt IS NULL ORDER BY BookID DESC LIMIT ?",
        (limit,),
    )
    return await _summaries(db, rows)


async def most_borrowed(db: Database, limit: int = 10) -> list[BookSummary]:
    """The titles lent most often, for the empty search page."""
    rows = await db.fetch_all(
        "SELECT BookID, Title, Author, Year FROM Books "
        "WHERE WithdrawnAt IS NULL AND TimesBorrowed > 0 "
        "ORDER BY TimesBorrowed DESC, BookID DESC LIMIT ?",
        (limit,),
    )
    return await _summaries(db, rows)


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
    )


async def copies_of(db: Database, book_id: int) -> list[CopyStatus]:
    """Each copy of a book with its barcode and where it is (shelf, loan, hold shelf)."""
    rows = await db.fetch_all(
        """
        SELECT c.CopyID, c.Barcode, c.Location, c.Status, l.ReturnDate,
               h.HoldID IS NOT NULL AS HeldForPickup
        FROM Copies c
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
        )
        for row in rows
    ]
