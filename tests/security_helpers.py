"""A small library with a record of each kind, and helpers the security tests share.

``build_library`` adds, on top of the demo data, a second student with a
password (``dave@example.com``), a hold and a mailbox message for Alice and a
closed day, so every URL argument of the app names a real record.
``table_checksums`` fingerprints every table, to prove a refused write changed nothing.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from webapp import demo
from webapp.db import connect_sync, migrate
from webapp.models.accounts import hash_password
from webapp.resources import MIGRATIONS

from .conftest import TEST_TODAY, csrf_from

ROLE_EMAILS = {
    "student": "alice@example.com",
    "other_student": "dave@example.com",
    "librarian": "bob@example.com",
    "admin": "carol@example.com",
}
CLOSED_DAY = "2026-12-25"
# An open stocktake of the whole library.
STOCKTAKE_ID = 1


@dataclass(frozen=True)
class Records:
    """Ids of records that belong to Alice (the first student) or that staff manage."""

    alice_id: int
    carol_id: int
    book_id: int
    copy_id: int
    barcode: str
    loan_id: int
    hold_id: int
    message_id: int

    def url_values(self) -> dict[str, object]:
        """A sample value for every URL argument name the app uses."""
        return {
            "book_id": self.book_id,
            "copy_id": self.copy_id,
            "barcode": self.barcode,
            "loan_id": self.loan_id,
            "hold_id": self.hold_id,
            "user_id": self.alice_id,
            "message_id": self.message_id,
            "day": CLOSED_DAY,
            "kind": "books",
            "filename": "shelfmark.css",
            # The Student category and the Book item type (neither can be removed: a removal
            # is refused with 422 and leaves them for the routes tried after it), a term.
            "category": 1,
            "item_type": 1,
            "category_id": 1,
            "item_type_id": 1,
            "term_id": 1,
            "size": "s",
            "token": "no-such-token",
            "batch": "0123456789ab",
            "notice": "reminder",
            "report": "loans-by-month",
            "stocktake_id": STOCKTAKE_ID,
        }


def build_library(path: Path) -> Records:
    conn = connect_sync(path)
    try:
        migrate(conn, MIGRATIONS)
        demo.load(conn, books=40, patrons=10, seed=7, today=TEST_TODAY, show_progress=False)
        conn.execute(
            "INSERT INTO Users (Name, Role, Email, CardNumber, PasswordHash) "
            "VALUES ('Dave Other', 'Student', 'dave@example.com', 'S0999', ?)",
            (hash_password(demo.DEMO_PASSWORD),),
        )
        alice_id = conn.execute(
            "SELECT UserID FROM Users WHERE Email = 'alice@example.com'"
        ).fetchone()[0]
        carol_id = conn.execute(
            "SELECT UserID FROM Users WHERE Email = 'carol@example.com'"
        ).fetchone()[0]
        loan = conn.execute(
            "SELECT l.LoanID, l.BookID, l.CopyID, c.Barcode FROM Loans l JOIN Copies c USING (CopyID) "
            "WHERE l.UserID = ? AND l.ReturnedAt IS NULL ORDER BY l.LoanID LIMIT 1",
            (alice_id,),
        ).fetchone()
        held_book = conn.execute("SELECT BookID FROM Books WHERE Title = '1984'").fetchone()[0]
        hold_id = conn.execute(
            "INSERT INTO Holds (UserID, BookID) VALUES (?, ?)", (alice_id, held_book)
        ).lastrowid
        message_id = conn.execute(
            "INSERT INTO Outbox (Kind, UserID, Recipient, Subject, BodyText, BodyHtml, "
            "HeaderMessageID, Status, Transport) VALUES ('reminder', ?, 'alice@example.com', "
            "'Overdue', 'Please return', '<p>Please return</p>', '<m1@shelfmark>', 'sent', 'mailbox')",
            (alice_id,),
        ).lastrowid
        conn.execute("INSERT INTO ClosedDays (Day, Reason) VALUES (?, 'Christmas')", (CLOSED_DAY,))
        conn.execute(
            "INSERT INTO Terms (TermID, Name, StartsOn, EndsOn) "
            "VALUES (1, 'Spring term', '2027-01-05', '2027-03-26')"
        )
        conn.execute(
            "INSERT INTO Stocktakes (StocktakeID, Name, WholeLibrary, StartedBy) "
            "VALUES (?, 'Autumn stocktake', 1, ?)",
            (STOCKTAKE_ID, carol_id),
        )
        return Records(
            alice_id=alice_id,
            carol_id=carol_id,
            book_id=loan["BookID"],
            copy_id=loan["CopyID"],
            barcode=loan["Barcode"],
            loan_id=loan["LoanID"],
            hold_id=hold_id,
            message_id=message_id,
        )
    finally:
        conn.close()


def copy_library(template: Path, target: Path) -> Path:
    shutil.copyfile(template, target)
    return target


def table_checksums(path: Path, ignore: frozenset[str] = frozenset()) -> dict[str, str]:
    """A digest of every row of every table (FTS5 shadow tables included), by table name."""
    conn = connect_sync(path)
    try:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
            if row[0] not in ignore and row[0] != "BooksSearch"
        ]
        sums = {}
        for table in tables:
            digest = hashlib.sha256()
            for row in sorted(repr(tuple(row)) for row in conn.execute(f'SELECT * FROM "{table}"')):
                digest.update(row.encode())
            sums[table] = digest.hexdigest()
        return sums
    finally:
        conn.close()


async def signed_in(client, role: str | None) -> str:
    """Sign ``client`` in as ``role`` (None stays anonymous); returns a CSRF token for it."""
    if role is None:
        return await csrf_from(client, "/login")
    token = await csrf_from(client)
    response = await client.post(
        "/login",
        form={"email": ROLE_EMAILS[role], "password": demo.DEMO_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302, await response.get_data(as_text=True)
    return await csrf_from(client, "/search")
