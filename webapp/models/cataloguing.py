"""Cataloguing's SQL: covers, the label print queue, library-card holders, the box of new books.

Plain functions of a ``sqlite3.Connection`` for ``db.read``/``db.write``, and the
box of new books' steps over the collection's own (``webapp.models.collection``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from webapp.db import Database
from webapp.models import collection

# --- covers ---------------------------------------------------------------------------


def claim_cover_fetch(conn: sqlite3.Connection, book_id: int) -> str | None:
    """The ISBN to fetch a cover for, once: None if the book has a cover, no ISBN, or
    its cover was asked for already (whatever the answer was)."""
    row = conn.execute(
        "UPDATE Books SET CoverFetchedAt = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') "
        "WHERE BookID = ? AND CoverFetchedAt IS NULL AND CoverVersion IS NULL "
        "AND ISBN IS NOT NULL RETURNING ISBN",
        (book_id,),
    ).fetchone()
    return None if row is None else row["ISBN"]


def cover_added(conn: sqlite3.Connection, book_id: int) -> int:
    """Count a new cover for the book; returns its version (part of the cover's address)."""
    return conn.execute(
        "UPDATE Books SET CoverVersion = coalesce(CoverVersion, 0) + 1 WHERE BookID = ? "
        "RETURNING CoverVersion",
        (book_id,),
    ).fetchone()["CoverVersion"]


def cover_removed(conn: sqlite3.Connection, book_id: int) -> None:
    conn.execute("UPDATE Books SET CoverVersion = NULL WHERE BookID = ?", (book_id,))


# --- labels ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelItem:
    """One copy's labels: its barcode, and its title's shelf mark and title."""

    copy_id: int
    barcode: str
    title: str
    author: str
    shelf_mark: str | None


_LABEL_COLUMNS = """
    SELECT c.CopyID, c.Barcode, b.Title, b.Author, b.ShelfMark
    FROM Copies c JOIN CatalogueBooks b ON b.BookID = c.BookID
    LEFT JOIN LabelQueue q ON q.CopyID = c.CopyID
"""

SORTS = {
    # Shelf marks are kept in a normal form whose text order is the shelves' order
    # (webapp/shelf_marks.py); copies without one come last.
    "shelf_mark": "b.ShelfMark IS NULL, b.ShelfMark, b.Title, c.Barcode",
    "added": "c.CopyID",
}


def _items(rows: list[sqlite3.Row]) -> list[LabelItem]:
    return [
        LabelItem(
            copy_id=row["CopyID"],
            barcode=row["Barcode"],
            title=row["Title"],
            author=row["Author"],
            shelf_mark=row["ShelfMark"],
        )
        for row in rows
    ]


def label_queue(conn: sqlite3.Connection, sort: str = "shelf_mark") -> list[LabelItem]:
    """Copies added since their labels were printed."""
    return _items(
        conn.execute(
            f"{_LABEL_COLUMNS} WHERE q.CopyID IS NOT NULL ORDER BY {SORTS[sort]}"
        ).fetchall()
    )


def copies_by_barcodes(
    conn: sqlite3.Connection, barcodes: list[str]
) -> tuple[list[LabelItem], list[str]]:
    """The copies with these barcodes, in the order given, and the barcodes no copy has."""
    found: dict[str, LabelItem] = {}
    for start in range(0, len(barcodes), 500):
        chunk = barcodes[start : start + 500]
        placeholders = ",".join("?" * len(chunk))
        for item in _items(
            conn.execute(f"{_LABEL_COLUMNS} WHERE c.Barcode IN ({placeholders})", chunk).fetchall()
        ):
            found[item.barcode.casefold()] = item
    return (
        [found[code.casefold()] for code in barcodes if code.casefold() in found],
        [code for code in barcodes if code.casefold() not in found],
    )


def copies_by_ids(conn: sqlite3.Connection, copy_ids: list[int]) -> list[LabelItem]:
    if not copy_ids:
        return []
    placeholders = ",".join("?" * len(copy_ids))
    return _items(
        conn.execute(
            f"{_LABEL_COLUMNS} WHERE c.CopyID IN ({placeholders}) ORDER BY {SORTS['shelf_mark']}",
            copy_ids,
        ).fetchall()
    )


def labels_printed(conn: sqlite3.Connection, copy_ids: list[int]) -> int:
    """Take these copies out of the print queue; returns how many were in it."""
    removed = 0
    for start in range(0, len(copy_ids), 500):
        chunk = copy_ids[start : start + 500]
        placeholders = ",".join("?" * len(chunk))
        removed += conn.execute(
            f"DELETE FROM LabelQueue WHERE CopyID IN ({placeholders})", chunk
        ).rowcount
    return removed


def clear_label_queue(conn: sqlite3.Connection) -> int:
    # The labels of an import still being published are not shown, so they stay.
    return conn.execute(
        "DELETE FROM LabelQueue WHERE CopyID IN (SELECT CopyID FROM CatalogueCopies)"
    ).rowcount


# --- library cards --------------------------------------------------------------------


@dataclass(frozen=True)
class CardHolder:
    user_id: int
    name: str
    group: str | None
    card_number: str


def card_holders(
    conn: sqlite3.Connection, group: str | None = None, user_id: int | None = None
) -> list[CardHolder]:
    """Active patrons with a card number: one patron, a class (``group``), by name."""
    where = ["Active = 1", "CardNumber IS NOT NULL"]
    params: list[object] = []
    if group is not None:
        where.append("GroupName = ? COLLATE NOCASE")
        params.append(group)
    if user_id is not None:
        where.append("UserID = ?")
        params.append(user_id)
    rows = conn.execute(
        f"SELECT UserID, Name, GroupName, CardNumber FROM Users WHERE {' AND '.join(where)} "
        "ORDER BY Name COLLATE NOCASE, UserID",
        params,
    ).fetchall()
    return [
        CardHolder(row["UserID"], row["Name"], row["GroupName"], row["CardNumber"]) for row in rows
    ]


# --- the box of new books -------------------------------------------------------------


@dataclass(frozen=True)
class BoxEntry:
    scan_id: int
    isbn: str
    outcome: str
    book_id: int | None
    title: str | None
    author: str | None
    shelf_mark: str | None
    cover_version: int | None
    barcode: str | None


def open_box(conn: sqlite3.Connection, user_id: int) -> list[BoxEntry]:
    """The librarian's scans since the box was last closed, newest first."""
    rows = conn.execute(
        """
        SELECT s.ScanID, s.ISBN, s.Outcome, s.BookID, b.Title, b.Author, b.ShelfMark,
               b.CoverVersion, c.Barcode
        FROM BoxScans s
        LEFT JOIN Books b ON b.BookID = s.BookID
        LEFT JOIN Copies c ON c.CopyID = s.CopyID
        WHERE s.UserID = ? AND s.ClosedAt IS NULL
        ORDER BY s.ScanID DESC
        """,
        (user_id,),
    ).fetchall()
    return [
        BoxEntry(
            scan_id=row["ScanID"],
            isbn=row["ISBN"],
            outcome=row["Outcome"],
            book_id=row["BookID"],
            title=row["Title"],
            author=row["Author"],
            shelf_mark=row["ShelfMark"],
            cover_version=row["CoverVersion"],
            barcode=row["Barcode"],
        )
        for row in rows
    ]


def close_box(conn: sqlite3.Connection, user_id: int) -> int:
    return conn.execute(
        "UPDATE BoxScans SET ClosedAt = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
        "WHERE UserID = ? AND ClosedAt IS NULL",
        (user_id,),
    ).rowcount


def _record_scan(
    conn: sqlite3.Connection,
    user_id: int,
    isbn13: str,
    outcome: str,
    book_id: int | None,
    barcode: str | None,
) -> None:
    conn.execute(
        "INSERT INTO BoxScans (UserID, ISBN, Outcome, BookID, CopyID) "
        "VALUES (?, ?, ?, ?, (SELECT CopyID FROM Copies WHERE Barcode = ?))",
        (user_id, isbn13, outcome, book_id, barcode),
    )


ONE_NEW_COPY = {"copies": 1, "barcodes": [], "location": None}


async def add_copy_from_box(db: Database, user_id: int, book_id: int, isbn13: str) -> str:
    """A scanned ISBN the catalogue has: one more copy, with the next barcode."""
    barcode = (await collection.add_copies(db, book_id, ONE_NEW_COPY))[0]
    await db.write(_record_scan, user_id, isbn13, "new_copy", book_id, barcode)
    return barcode


async def add_book_from_box(db: Database, user_id: int, book: dict) -> int:
    """A scanned ISBN the catalogue lacks, found by the lookup: the book and its first copy.

    When another scan of the same ISBN got there first (two librarians, one title),
    the book it made gets a copy instead.
    """
    try:
        book_id = await collection.create_book(db, book, ONE_NEW_COPY)
    except collection.Conflict as conflict:
        # No book named: the ISBN is an import's that is still being published.
        if conflict.field != "isbn" or conflict.other_id is None:
            raise
        await add_copy_from_box(db, user_id, conflict.other_id, book["isbn"])
        return conflict.other_id
    barcode = await db.fetch_value(
        "SELECT Barcode FROM Copies WHERE BookID = ? ORDER BY CopyID DESC LIMIT 1", (book_id,)
    )
    await db.write(_record_scan, user_id, book["isbn"], "new_book", book_id, barcode)
    return book_id


async def note_unresolved(db: Database, user_id: int, isbn13: str, outcome: str) -> None:
    """A scanned ISBN that could not become a book: left in the list to fill in by hand."""
    await db.write(_record_scan, user_id, isbn13, outcome, None, None)
