"""Importing patrons from a CSV file, such as a school's class lists.

Same shape as the book importer: ``read_patrons_csv`` parses without the
database, ``plan_patrons`` says what an import would do without writing, and
``apply_patrons`` writes it all in one transaction or nothing. A patron is
known by email address, or else by card number, so re-importing the same file
adds nobody. Imported accounts have no password: they sign in once a
librarian sets one, or borrow at the desk with their card.

A file holds at most ``MAX_PATRONS_PER_FILE`` rows. A school's class lists are a
few thousand; the cap keeps what a file costs bounded (its rows are held while
they are checked, and they are written in one transaction, which holds the
database's write lock: 20,000 patrons take well under a second), so a patron
import can never hold up the desk the way an unbounded one could.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TextIO

from webapp import validation
from webapp.importing import csv_columns
from webapp.importing.books import (
    ImportSummary,
    first_occurrences,
    open_csv,
    unquote_formula,
)
from webapp.models import codes

MAX_PATRONS_PER_FILE = 20_000

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "full name", "full_name", "patron", "student"),
    "email": ("email", "e-mail", "email address", "mail"),
    "role": ("role", "type", "patron type"),
    "card_number": ("card_number", "card number", "card", "barcode", "library card"),
    "group": ("group", "class", "form", "group_name", "tutor group"),
    "active": ("active", "enabled"),
    "category": ("category", "patron category", "borrower category", "year group"),
    "guardian_email": (
        "guardian_email",
        "guardian email",
        "guardian's email",
        "parent email",
        "parent's email",
    ),
}
FIELDS = tuple(COLUMN_ALIASES)


@dataclass
class PatronRow:
    line: int
    name: str | None = None
    email: str | None = None
    role: str = "Student"
    card_number: str | None = None
    group: str | None = None
    active: bool = True
    # The patron category by name (a class list's "Year 8"); None: the role's usual one.
    category: str | None = None
    category_id: int | None = None
    # A parent's or guardian's address (copied on overdue reminders); None: left as it is.
    guardian_email: str | None = None
    error: str | None = None

    @property
    def identity(self) -> tuple:
        if self.email:
            return ("email", self.email.casefold())
        return ("card", self.card_number)


def detect_mapping(header: Iterable[str]) -> dict[str, str]:
    """Map each patron field to the first matching column of ``header``."""
    return csv_columns.detect_mapping(header, COLUMN_ALIASES)


def parse_patron_row(
    line: int, record: dict[str, str], mapping: dict[str, str], *, allow_admin: bool
) -> PatronRow:
    row = PatronRow(line=line)

    def cell(name: str) -> str | None:
        column = mapping.get(name)
        return unquote_formula(record.get(column)) if column else None

    checks = (
        ("name", lambda: validation.required_text(cell("name"), 200)),
        ("email", lambda: validation.email(cell("email"))),
        (
            "role",
            lambda: validation.role(cell("role")) if (cell("role") or "").strip() else "Student",
        ),
        ("card_number", lambda: validation.optional_text(cell("card_number"), 64)),
        ("group", lambda: validation.optional_text(cell("group"), 100)),
        ("active", lambda: validation.flag(cell("active")) if "active" in mapping else True),
        ("category", lambda: validation.optional_text(cell("category"), 40)),
        ("guardian_email", lambda: validation.email(cell("guardian_email"))),
    )
    for name, check in checks:
        try:
            setattr(row, name, check())
        except ValueError as error:
            row.error = f"{name.replace('_', ' ')}: {error}"
            return row
    if row.email is None and row.card_number is None:
        row.error = "needs an email address or a card number to tell patrons apart"
    elif row.role == "Admin" and not allow_admin:
        row.error = "only an admin may import Admin accounts"
    return row


def read_patrons_csv(
    data: bytes | str | TextIO, mapping: dict[str, str] | None = None, *, allow_admin: bool = False
) -> tuple[dict[str, str], list[PatronRow]]:
    """Parse a CSV file of patrons; returns the column mapping used and the rows."""
    mapping, records = open_csv(data, mapping, COLUMN_ALIASES, required="name")
    rows: list[PatronRow] = []
    for line, record in records:
        if len(rows) == MAX_PATRONS_PER_FILE:
            raise ValueError(
                f"the file has more than {MAX_PATRONS_PER_FILE:,} patrons; split it (for "
                "example by year group) and import each part"
            )
        rows.append(parse_patron_row(line, record, mapping, allow_admin=allow_admin))
    return mapping, rows


_COLUMN = {
    "name": "Name",
    "email": "Email",
    "role": "Role",
    "card_number": "CardNumber",
    "group": "GroupName",
    "active": "Active",
    "category_id": "CategoryID",
    "guardian_email": "GuardianEmail",
}


@dataclass
class _Decision:
    row: PatronRow
    user_id: int | None = None
    changes: dict[str, object] = field(default_factory=dict)


def _classify(
    conn: sqlite3.Connection,
    rows: list[PatronRow],
    summary: ImportSummary,
    progress: Callable[[int], None] | None,
    *,
    allow_admin: bool,
) -> list[_Decision]:
    decisions: list[_Decision] = []
    cards_in_file: set[str] = set()
    for row in first_occurrences(rows, summary, progress):
        if row.category is not None:
            category = conn.execute(
                "SELECT CategoryID FROM PatronCategories WHERE Name = ? COLLATE NOCASE",
                (row.category,),
            ).fetchone()
            if category is None:
                summary.invalid += 1
                summary.problem(row.line, f"no patron category is called {row.category}")
                continue
            row.category_id = category[0]
        existing = _find_existing(conn, row)
        card_owner = (
            row.card_number
            and conn.execute(
                "SELECT UserID FROM Users WHERE CardNumber = ?", (row.card_number,)
            ).fetchone()
        )
        if card_owner and (existing is None or card_owner["UserID"] != existing["UserID"]):
            summary.invalid += 1
            summary.problem(row.line, f"card number {row.card_number} belongs to someone else")
            continue
        clash = _code_clash(conn, row, existing)
        if clash:
            summary.invalid += 1
            summary.problem(row.line, clash)
            continue
        if row.card_number and row.card_number.casefold() in cards_in_file:
            summary.invalid += 1
            summary.problem(row.line, f"card number {row.card_number} is repeated in this file")
            continue
        if row.card_number:
            cards_in_file.add(row.card_number.casefold())
        if existing is None:
            summary.new += 1
            decisions.append(_Decision(row))
            continue
        if existing["Role"] == "Admin" and not allow_admin:
            summary.invalid += 1
            summary.problem(row.line, "only an admin may change an Admin account")
            continue
        changes = {}
        for name, column in _COLUMN.items():
            value = getattr(row, name)
            if name == "active":
                value = int(value)
            if value is not None and value != existing[column]:
                changes[column] = value
        if changes:
            summary.updated += 1
            decisions.append(_Decision(row, existing["UserID"], changes))
        else:
            summary.duplicate += 1
            summary.problem(row.line, "already a patron; nothing to change")
    return decisions


def _code_clash(
    conn: sqlite3.Connection, row: PatronRow, existing: sqlite3.Row | None
) -> str | None:
    """Why the row's card or email would clash with another patron's card, a copy's barcode
    or another's email (whatever the case); an unchanged card is not checked again."""
    user_id = existing["UserID"] if existing is not None else 0
    if row.card_number and (existing is None or row.card_number != existing["CardNumber"]):
        clash = codes.card_clash(conn, row.card_number, user_id)
        if clash:
            return f"card number: {clash}"
    if row.email and (existing is None or row.email != existing["Email"]):
        clash = codes.email_clash(conn, row.email, user_id)
        if clash:
            return f"email: {clash}"
    return None


def _find_existing(conn: sqlite3.Connection, row: PatronRow) -> sqlite3.Row | None:
    if row.email:
        return conn.execute("SELECT * FROM Users WHERE Email = ?", (row.email,)).fetchone()
    return conn.execute("SELECT * FROM Users WHERE CardNumber = ?", (row.card_number,)).fetchone()


def plan_patrons(
    conn: sqlite3.Connection,
    rows: list[PatronRow],
    *,
    allow_admin: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """What ``apply_patrons`` would do with ``rows``, without writing anything."""
    summary = ImportSummary()
    conn.execute("BEGIN")
    try:
        _classify(conn, rows, summary, progress, allow_admin=allow_admin)
    finally:
        conn.execute("ROLLBACK")
    return summary


def apply_patrons(
    conn: sqlite3.Connection,
    rows: list[PatronRow],
    *,
    allow_admin: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Add new patrons and update known ones, in one transaction."""
    summary = ImportSummary()
    conn.execute("BEGIN IMMEDIATE")
    try:
        for decision in _classify(conn, rows, summary, progress, allow_admin=allow_admin):
            try:
                _write(conn, decision)
            except sqlite3.IntegrityError as error:
                # Two rows of the file that clash with each other (one's email is the
                # other's card): the database's triggers refuse the second.
                if "code clash" not in str(error):
                    raise
                raise ValueError(f"line {decision.row.line}: {error}") from error
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return summary


def _write(conn: sqlite3.Connection, decision: _Decision) -> None:
    row = decision.row
    if decision.user_id is None:
        conn.execute(
            "INSERT INTO Users (Name, Role, Email, CardNumber, GroupName, Active, CategoryID, "
            "GuardianEmail) VALUES (?,?,?,?,?,?,?,?)",
            (
                row.name,
                row.role,
                row.email,
                row.card_number,
                row.group,
                int(row.active),
                row.category_id,
                row.guardian_email,
            ),
        )
    else:
        assignments = ", ".join(f"{column} = ?" for column in decision.changes)
        conn.execute(
            f"UPDATE Users SET {assignments} WHERE UserID = ?",
            (*decision.changes.values(), decision.user_id),
        )
