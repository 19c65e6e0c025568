"""The read side of circulation: what the desk, My account, and the patron and copy pages show.

A patron's panel (loans, holds, and how many more they may borrow), their past
loans, and a copy's record and loan history. Plain functions of a connection:
the views run them with ``Database.read`` (one hand-off to a reader's thread
for all of a function's queries), and ``loans.desk_scan`` calls
``patron_panel`` inside its write so the desk shows the panel its scan left.
Nothing here changes anything; the event log's pages are in ``events``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date

from webapp import loan_advice, rules
from webapp.models.hold_shelf import QUEUE_POSITION
from webapp.models.patrons import Patron, get_patron
from webapp.models.rule_settings import PatronRules, load_calendar, patron_rules, rule_for

# Longer than any barcode the collection gives out: nothing to look up.
MAX_BARCODE_LENGTH = 64


@dataclass(frozen=True)
class LoanLine:
    """One loan as the pages list it; ``due`` is Loans.ReturnDate, the due date."""

    loan_id: int
    book_id: int
    title: str
    author: str
    barcode: str
    loan_date: date
    due: date
    renewals: int
    returned_at: str | None
    days_overdue: int
    # How a closed loan ended when the copy did not come back: "lost", "claims_returned".
    closed_as: str | None = None
    # The copy's item type, and (on a patron's panel) the rule the loan is under.
    item_type: str = ""
    rule: rules.LoanRule | None = None
    cover_version: int | None = None


@dataclass(frozen=True)
class HoldLine:
    """One waiting or ready hold; ``barcode`` is the copy on the hold shelf (ready only)."""

    hold_id: int
    book_id: int
    title: str
    status: str
    placed_at: str
    pickup_by: date | None
    barcode: str | None
    queue_position: int | None


@dataclass(frozen=True)
class PatronPanel:
    """What the desk, My account and the patron page show about a patron."""

    patron: Patron
    # The rule for the default item type (Book): the panel's summary and the category's limits.
    rule: rules.LoanRule
    loans: list[LoanLine]
    holds: list[HoldLine]

    @property
    def overdue(self) -> list[LoanLine]:
        return [loan for loan in self.loans if loan.days_overdue]

    @property
    def loans_left(self) -> int:
        """How many more they may borrow now: none while they are blocked."""
        if self.blocked:
            return 0
        return rules.loans_left(self.rule, len(self.loans))

    @property
    def blocked_for_overdue(self) -> bool:
        return self.rule.block_when_overdue and bool(self.overdue)

    @property
    def blocked(self) -> bool:
        """No new loans at all: an inactive account, or overdue items that must come back."""
        return not self.patron.active or self.blocked_for_overdue


@dataclass(frozen=True)
class CopyRecord:
    """A copy as its page shows it, with its open loan and borrower if it is out."""

    copy_id: int
    book_id: int
    barcode: str
    title: str
    author: str
    location: str | None
    status: str
    current_loan: LoanLine | None
    current_borrower: Patron | None
    # Why a lost copy is missing: its last loan closed as "lost" or "claims_returned".
    missing_as: str | None = None


_LOAN_COLUMNS = (
    "l.LoanID, l.UserID, l.BookID, l.LoanDate, l.ReturnDate, l.ReturnedAt, l.Renewals, "
    "l.ClosedAs, b.Title, b.Author, c.Barcode, b.CoverVersion, c.ItemTypeID, it.Name AS ItemType"
)
_LOAN_TABLES = (
    "Loans l JOIN Books b ON b.BookID = l.BookID JOIN Copies c ON c.CopyID = l.CopyID "
    "LEFT JOIN ItemTypes it ON it.ItemTypeID = c.ItemTypeID"
)


def _loan_from_row(row: sqlite3.Row, today: date, rules_of: PatronRules | None = None) -> LoanLine:
    due = date.fromisoformat(row["ReturnDate"])
    return LoanLine(
        loan_id=row["LoanID"],
        book_id=row["BookID"],
        title=row["Title"],
        author=row["Author"],
        barcode=row["Barcode"],
        loan_date=date.fromisoformat(row["LoanDate"]),
        due=due,
        renewals=row["Renewals"],
        returned_at=row["ReturnedAt"],
        days_overdue=0 if row["ReturnedAt"] else rules.days_overdue(due, today),
        closed_as=row["ClosedAs"],
        item_type=row["ItemType"] or "",
        rule=rules_of.for_type(row["ItemTypeID"]) if rules_of else None,
        cover_version=row["CoverVersion"],
    )


def _open_loans(
    conn: sqlite3.Connection, user_id: int, today: date, rules_of: PatronRules | None = None
) -> list[LoanLine]:
    """A patron's open loans, soonest due first, each with its rule when ``rules_of`` is given."""
    rows = conn.execute(
        f"SELECT {_LOAN_COLUMNS} FROM {_LOAN_TABLES} WHERE l.UserID = ? AND l.ReturnedAt IS NULL "
        "ORDER BY l.ReturnDate, l.LoanID",
        (user_id,),
    )
    return [_loan_from_row(row, today, rules_of) for row in rows]


@dataclass(frozen=True)
class OpenLoan:
    """An open loan with its borrower and the rule they borrow by: what staff act on."""

    loan: LoanLine
    borrower: Patron
    rule: rules.LoanRule


def open_loan(conn: sqlite3.Connection, loan_id: int, today: date) -> OpenLoan | None:
    """One open loan by id (None when there is none, or it is returned)."""
    row = conn.execute(
        f"SELECT {_LOAN_COLUMNS} FROM {_LOAN_TABLES} WHERE l.LoanID = ? AND l.ReturnedAt IS NULL",
        (loan_id,),
    ).fetchone()
    borrower = get_patron(conn, row["UserID"]) if row else None
    if row is None or borrower is None:
        return None
    rule = rule_for(conn, borrower.category_id or 0, row["ItemTypeID"])
    return OpenLoan(_loan_from_row(row, today), borrower, rule)


def past_loans(
    conn: sqlite3.Connection, user_id: int, today: date, limit: int = 50
) -> list[LoanLine]:
    """A patron's returned loans, most recent first."""
    rows = conn.execute(
        f"SELECT {_LOAN_COLUMNS} FROM {_LOAN_TABLES} "
        "WHERE l.UserID = ? AND l.ReturnedAt IS NOT NULL "
        "ORDER BY l.ReturnedAt DESC, l.LoanID DESC LIMIT ?",
        (user_id, limit),
    )
    return [_loan_from_row(row, today) for row in rows]


def _active_holds(conn: sqlite3.Connection, user_id: int) -> list[HoldLine]:
    """A patron's waiting and ready holds, with each waiting hold's place in its queue."""
    rows = conn.execute(
        f"""
        SELECT h.HoldID, h.BookID, b.Title, h.Status, h.PlacedAt, h.PickupBy, c.Barcode,
               {QUEUE_POSITION} AS Position
        FROM Holds h JOIN Books b ON b.BookID = h.BookID
        LEFT JOIN Copies c ON c.CopyID = h.CopyID
        WHERE h.UserID = ? AND h.Status IN ('waiting', 'ready')
        ORDER BY h.Status = 'ready' DESC, h.PlacedAt, h.HoldID
        """,
        (user_id,),
    )
    return [
        HoldLine(
            hold_id=row["HoldID"],
            book_id=row["BookID"],
            title=row["Title"],
            status=row["Status"],
            placed_at=row["PlacedAt"],
            pickup_by=date.fromisoformat(row["PickupBy"]) if row["PickupBy"] else None,
            barcode=row["Barcode"] if row["Status"] == "ready" else None,
            queue_position=row["Position"],
        )
        for row in rows
    ]


def patron_panel(conn: sqlite3.Connection, user_id: int, today: date) -> PatronPanel | None:
    """What the desk shows about a patron: loans, holds, and how many more they may borrow."""
    patron = get_patron(conn, user_id)
    if patron is None:
        return None
    rules_of = patron_rules(conn, patron.category_id or 0)
    return PatronPanel(
        patron=patron,
        rule=rules_of.general,
        loans=_open_loans(conn, user_id, today, rules_of),
        holds=_active_holds(conn, user_id),
    )


def copy_record(conn: sqlite3.Connection, barcode: str, today: date) -> CopyRecord | None:
    """A copy by barcode, with its open loan and borrower if it is out."""
    if not barcode or len(barcode) > MAX_BARCODE_LENGTH:
        return None
    row = conn.execute(
        "SELECT c.*, b.Title, b.Author FROM Copies c JOIN CatalogueBooks b "
        "ON b.BookID = c.BookID WHERE c.Barcode = ?",
        (barcode,),
    ).fetchone()
    if row is None:
        return None
    loan_row = conn.execute(
        f"SELECT {_LOAN_COLUMNS} FROM {_LOAN_TABLES} WHERE l.CopyID = ? AND l.ReturnedAt IS NULL",
        (row["CopyID"],),
    ).fetchone()
    return CopyRecord(
        copy_id=row["CopyID"],
        book_id=row["BookID"],
        barcode=row["Barcode"],
        title=row["Title"],
        author=row["Author"],
        location=row["Location"],
        status=row["Status"],
        current_loan=_loan_from_row(loan_row, today) if loan_row else None,
        current_borrower=get_patron(conn, loan_row["UserID"]) if loan_row else None,
        missing_as=_missing_as(conn, row["CopyID"]) if row["Status"] == "lost" else None,
    )


def _missing_as(conn: sqlite3.Connection, copy_id: int) -> str | None:
    row = conn.execute(
        "SELECT ClosedAs FROM Loans WHERE CopyID = ? ORDER BY LoanID DESC LIMIT 1", (copy_id,)
    ).fetchone()
    return None if row is None else row[0]


def copy_loans(
    conn: sqlite3.Connection, copy_id: int, today: date, limit: int = 50
) -> list[tuple[LoanLine, str]]:
    """A copy's loans, newest first, each with the borrower's name."""
    rows = conn.execute(
        f"SELECT {_LOAN_COLUMNS}, u.Name AS Borrower FROM {_LOAN_TABLES} "
        "JOIN Users u ON u.UserID = l.UserID "
        "WHERE l.CopyID = ? ORDER BY l.LoanID DESC LIMIT ?",
        (copy_id, limit),
    )
    return [(_loan_from_row(row, today), row["Borrower"]) for row in rows]


def renewal_advice(
    conn: sqlite3.Connection, user_id: int, today: date
) -> dict[int, loan_advice.RenewalAdvice]:
    """For each of a patron's open loans (by LoanID), whether they may renew it today and,
    if not, why: My account offers Renew only where ``loans.renew`` would accept it."""
    patron = get_patron(conn, user_id)
    if patron is None:
        return {}
    rules_of = patron_rules(conn, patron.category_id or 0)
    calendar = load_calendar(conn)
    rows = conn.execute(
        """
        SELECT l.LoanID, l.ReturnDate, l.Renewals, c.ItemTypeID,
               EXISTS (SELECT 1 FROM Holds h WHERE h.BookID = l.BookID
                       AND h.Status = 'waiting' AND h.UserID <> l.UserID) AS HeldByAnother
        FROM Loans l JOIN Copies c ON c.CopyID = l.CopyID
        WHERE l.UserID = ? AND l.ReturnedAt IS NULL
        """,
        (user_id,),
    )
    return {
        row["LoanID"]: loan_advice.renewal_advice(
            rule=rules_of.for_type(row["ItemTypeID"]),
            renewals=row["Renewals"],
            due=date.fromisoformat(row["ReturnDate"]),
            today=today,
            held_by_another=bool(row["HeldByAnother"]),
            calendar=calendar,
        )
        for row in rows
    }
