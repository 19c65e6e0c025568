"""CSV exports of books (with copies), patrons and loans, page by page.

What the book and patron exports write, the importers read back: the same
column names, several barcodes joined by ";", ISBNs hyphenated, and a ' put
before any cell a spreadsheet would run as a formula (=, +, -, @, tab, CR),
which the importers take off again (``importing.books.unquote_formula``).
Rows are read a page at a time by key, so an export of a million loans never
sits in memory; the web streams each page as it is read.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

from webapp.db import Database
from webapp.importing.books import FORMULA_STARTS
from webapp.search_query import format_isbn

PAGE_SIZE = 500
# A byte-order mark, so spreadsheets open the file as UTF-8 (the importers skip it).
BOM = "\ufeff"


def neutralise(value: object) -> str:
    """A cell's text, with a ' before anything a spreadsheet would treat as a formula."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_line(values) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([neutralise(value) for value in values])
    return buffer.getvalue()


@dataclass(frozen=True)
class Export:
    """One kind of export: its columns, a keyed page query, and a row's cells."""

    columns: tuple[str, ...]
    page_sql: str
    cells: Callable[[sqlite3.Row], tuple]


BOOKS = Export(
    columns=(
        "title",
        "author",
        "isbn",
        "series",
        "subjects",
        "publisher",
        "year",
        "language",
        "copies",
        "barcodes",
        "location",
        "item_type",
    ),
    page_sql="""
        SELECT b.BookID AS Key, b.*,
               (SELECT count(*) FROM Copies c WHERE c.BookID = b.BookID) AS CopyCount,
               (SELECT group_concat(Barcode, ';')
                FROM (SELECT Barcode FROM Copies c WHERE c.BookID = b.BookID ORDER BY c.CopyID)
               ) AS Barcodes,
               (SELECT Location FROM Copies c WHERE c.BookID = b.BookID AND Location IS NOT NULL
                ORDER BY c.CopyID LIMIT 1) AS FirstLocation,
               (SELECT it.Name FROM Copies c JOIN ItemTypes it ON it.ItemTypeID = c.ItemTypeID
                WHERE c.BookID = b.BookID ORDER BY c.CopyID LIMIT 1) AS FirstItemType
        FROM CatalogueBooks b WHERE b.BookID > ? ORDER BY b.BookID LIMIT ?
    """,
    cells=lambda row: (
        row["Title"],
        row["Author"],
        format_isbn(row["ISBN"]),
        row["Series"],
        row["Subjects"],
        row["Publisher"],
        row["Year"],
        row["Language"],
        row["CopyCount"],
        row["Barcodes"],
        row["FirstLocation"],
        row["FirstItemType"],
    ),
)

PATRONS = Export(
    columns=("name", "email", "role", "card_number", "group", "active", "category"),
    page_sql=(
        "SELECT u.UserID AS Key, u.*, pc.Name AS Category FROM Users u "
        "LEFT JOIN PatronCategories pc ON pc.CategoryID = u.CategoryID "
        "WHERE u.UserID > ? ORDER BY u.UserID LIMIT ?"
    ),
    cells=lambda row: (
        row["Name"],
        row["Email"],
        row["Role"],
        row["CardNumber"],
        row["GroupName"],
        "yes" if row["Active"] else "no",
        row["Category"],
    ),
)

LOANS = Export(
    columns=(
        "loan_id",
        "loan_date",
        "due_date",
        "returned_at",
        "closed_as",
        "renewals",
        "barcode",
        "isbn",
        "title",
        "patron_name",
        "patron_card",
        "patron_email",
    ),
    page_sql="""
        SELECT l.LoanID AS Key, l.*, c.Barcode, b.ISBN, b.Title,
               u.Name, u.CardNumber, u.Email
        FROM Loans l JOIN Copies c ON c.CopyID = l.CopyID JOIN Books b ON b.BookID = l.BookID
        LEFT JOIN Users u ON u.UserID = l.UserID  -- none once anonymised (docs/privacy.md)
        WHERE l.LoanID > ? ORDER BY l.LoanID LIMIT ?
    """,
    cells=lambda row: (
        row["LoanID"],
        row["LoanDate"],
        row["ReturnDate"],
        row["ReturnedAt"],
        # How it ended: a loan closed without the copy coming back says so.
        (row["ClosedAs"] or "returned") if row["ReturnedAt"] else "",
        row["Renewals"],
        row["Barcode"],
        format_isbn(row["ISBN"]),
        row["Title"],
        row["Name"],
        row["CardNumber"],
        row["Email"],
    ),
)

EXPORTS = {"books": BOOKS, "patrons": PATRONS, "loans": LOANS}


async def stream_csv(db: Database, export: Export) -> AsyncIterator[str]:
    """The CSV text of ``export``, one page of rows at a time."""
    yield BOM + csv_line(export.columns)
    last_key = 0
    while True:
        rows = await db.fetch_all(export.page_sql, (last_key, PAGE_SIZE))
        if not rows:
            return
        yield "".join(csv_line(export.cells(row)) for row in rows)
        last_key = rows[-1]["Key"]


def iter_csv(conn: sqlite3.Connection, export: Export) -> Iterator[tuple[int, str]]:
    """``(rows in this chunk, CSV text)`` for the command line, a page at a time.

    Runs in one read transaction, so the file is a consistent snapshot even
    while the app keeps writing.
    """
    conn.execute("BEGIN")
    try:
        yield 0, BOM + csv_line(export.columns)
        last_key = 0
        while True:
            rows = conn.execute(export.page_sql, (last_key, PAGE_SIZE)).fetchall()
            if not rows:
                return
            yield len(rows), "".join(csv_line(export.cells(row)) for row in rows)
            last_key = rows[-1]["Key"]
    finally:
        conn.execute("ROLLBACK")


def count_rows(conn: sqlite3.Connection, kind: str) -> int:
    table = {"books": "Books", "patrons": "Users", "loans": "Loans"}[kind]
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
