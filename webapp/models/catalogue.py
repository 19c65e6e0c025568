"""Catalogue queries: search, a book with its copies, the empty-query lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from webapp import ranking
from webapp.db import Database
from webapp.search_query import SearchQuery

# Markers FTS5's highlight() puts around matched words. Control characters are
# stripped from every stored text on the way in, so they cannot occur there.
MATCH_START, MATCH_END = "\x02", "\x03"

# Title matches count most, then author, then series/subjects/ISBN.
BM25_WEIGHTS = (10.0, 4.0, 1.0)

# Counting stops here: past it the page says "more than 1,000 matches", so
# counting never costs more than finding the first page.
COUNT_CAP = 1000

# How many of the best bm25 matches are re-ranked by ranking.rerank.
RERANK_CANDIDATES = 200


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


def split_marked(text: str) -> tuple[tuple[str, bool], ...]:
    """Split highlight() output into (text, is_match) parts; the template escapes each part."""
    parts: list[tuple[str, bool]] = []
    for index, chunk in enumerate(text.split(MATCH_START)):
        if index == 0:
            if chunk:
                parts.append((chunk, False))
            continue
        matched, _, rest = chunk.partition(MATCH_END)
        if matched:
            parts.append((matched, True))
        if rest:
            parts.append((rest, False))
    return tuple(parts)


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
    """One page of books matching ``query``, best first, with matches marked.

    bm25 chooses the best ``RERANK_CANDIDATES`` matches and ``ranking.rerank``
    orders them; pages past those continue in bm25 order, so paging never
    repeats or skips a book.
    """
    if query.is_empty:
        return SearchPage(query, [], page, per_page, 0, False)
    match = query.match_expression()
    total = await db.fetch_value(
        "SELECT count(*) FROM (SELECT 1 FROM BooksSearch WHERE BooksSearch MATCH ? LIMIT ?)",
        (match, COUNT_CAP + 1),
    )
    offset = (page - 1) * per_page
    if offset < RERANK_CANDIDATES:
        rows = await db.fetch_all(
            """
            SELECT s.rowid AS BookID, b.Title, b.TimesBorrowed,
                   bm25(BooksSearch, ?, ?, ?) AS Score
            FROM BooksSearch s JOIN Books b ON b.BookID = s.rowid
            WHERE BooksSearch MATCH ?
            ORDER BY Score LIMIT ?
            """,
            (*BM25_WEIGHTS, match, RERANK_CANDIDATES),
        )
        candidates = [
            ranking.Candidate(row["BookID"], row["Title"], row["Score"], row["TimesBorrowed"])
            for row in rows
        ]
        ranked = ranking.rerank(candidates, query.terms)
        book_ids = [candidate.book_id for candidate in ranked[offset : offset + per_page]]
    else:
        rows = await db.fetch_all(
            "SELECT rowid FROM BooksSearch WHERE BooksSearch MATCH ? "
            "ORDER BY bm25(BooksSearch, ?, ?, ?) LIMIT ? OFFSET ?",
            (match, *BM25_WEIGHTS, per_page, offset),
        )
        book_ids = [row["rowid"] for row in rows]
    return SearchPage(
        query=query,
        results=await _highlighted(db, match, book_ids),
        page=page,
        per_page=per_page,
        total=min(total, COUNT_CAP),
        total_is_capped=total > COUNT_CAP,
    )


async def _highlighted(db: Database, match: str, book_ids: list[int]) -> list[BookSummary]:
    """Summaries of ``book_ids``, in that order, with the words that matched marked."""
    if not book_ids:
        return []
    placeholders = ",".join("?" * len(book_ids))
    rows = await db.fetch_all(
        f"""
        SELECT s.rowid AS BookID,
               highlight(BooksSearch, 0, char(2), char(3)) AS TitleMarked,
               highlight(BooksSearch, 1, char(2), char(3)) AS AuthorMarked,
               b.Year
        FROM BooksSearch s JOIN Books b ON b.BookID = s.rowid
        WHERE BooksSearch MATCH ? AND s.rowid IN ({placeholders})
        """,
        (match, *book_ids),
    )
    by_id = {row["BookID"]: row for row in rows}
    return await _summaries(db, [by_id[book_id] for book_id in book_ids if book_id in by_id])


async def _summaries(db: Database, rows) -> list[BookSummary]:
    availability = await availability_for(db, [row["BookID"] for row in rows])
    return [
        BookSummary(
            book_id=row["BookID"],
            title_parts=split_marked(row["TitleMarked"]),
            author_parts=split_marked(row["AuthorMarked"]),
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
        f"SELECT BookID, Title AS TitleMarked, Author AS AuthorMarked, Year FROM Books "
        f"WHERE BookID IN ({placeholders})",
        book_ids,
    )
    by_id = {row["BookID"]: row for row in rows}
    return await _summaries(db, [by_id[book_id] for book_id in book_ids if book_id in by_id])


async def recent_arrivals(db: Database, limit: int = 10) -> list[BookSummary]:
    """The newest titles in the catalogue, for the empty search page."""
    rows = await db.fetch_all(
        "SELECT BookID, Title AS TitleMarked, Author AS AuthorMarked, Year FROM Books "
        "WHERE WithdrawnAt IS NULL ORDER BY BookID DESC LIMIT ?",
        (limit,),
    )
    return await _summaries(db, rows)


async def most_borrowed(db: Database, limit: int = 10) -> list[BookSummary]:
    """The titles lent most often, for the empty search page."""
    rows = await db.fetch_all(
        "SELECT BookID, Title AS TitleMarked, Author AS AuthorMarked, Year FROM Books "
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
