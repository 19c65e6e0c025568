"""The event log: one Events row for every circulation change, and the pages that read it back.

``log`` runs inside the write transaction that makes the change (a lend, a hold
placed, a rules edit), so the log can never disagree with the loans and holds;
the schema's triggers refuse to update or delete an event. The patron and copy
pages show ``events_for_patron`` and ``events_for_copy``. Undo and the desk's
double-scan check read recent events too, in ``undo`` and ``loans``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class EventLine:
    """One event as the patron and copy pages list it, with names instead of ids."""

    event_id: int
    at: str
    kind: str
    actor: str | None
    patron_id: int | None
    patron: str | None
    book_id: int | None
    title: str | None
    barcode: str | None
    detail: str | None


def log(
    conn: sqlite3.Connection,
    kind: str,
    actor_id: int | None,
    *,
    user_id: int | None = None,
    book_id: int | None = None,
    copy_id: int | None = None,
    loan_id: int | None = None,
    hold_id: int | None = None,
    detail: str | None = None,
) -> None:
    """Append one row to the event log (never updated or deleted), in the caller's transaction."""
    conn.execute(
        "INSERT INTO Events (Kind, ActorID, UserID, BookID, CopyID, LoanID, HoldID, Detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (kind, actor_id, user_id, book_id, copy_id, loan_id, hold_id, detail),
    )


_EVENT_QUERY = """
    SELECT e.EventID, e.At, e.Kind, actor.Name AS Actor, e.UserID, patron.Name AS Patron,
           e.BookID, b.Title, c.Barcode, e.Detail
    FROM Events e
    LEFT JOIN Users actor ON actor.UserID = e.ActorID
    LEFT JOIN Users patron ON patron.UserID = e.UserID
    LEFT JOIN Books b ON b.BookID = e.BookID
    LEFT JOIN Copies c ON c.CopyID = e.CopyID
"""


def _event_from_row(row: sqlite3.Row) -> EventLine:
    return EventLine(
        event_id=row["EventID"],
        at=row["At"],
        kind=row["Kind"],
        actor=row["Actor"],
        patron_id=row["UserID"],
        patron=row["Patron"],
        book_id=row["BookID"],
        title=row["Title"],
        barcode=row["Barcode"],
        detail=row["Detail"],
    )


def events_for_patron(
    conn: sqlite3.Connection, user_id: int, limit: int = 200, *, account: bool = False
) -> list[EventLine]:
    """The circulation events about a patron, newest first; with ``account``, their account
    events instead (kinds ``account_…``: sign-ins, passwords, links; admins only see them)."""
    rows = conn.execute(
        f"{_EVENT_QUERY} WHERE e.UserID = ? AND (substr(e.Kind, 1, 8) = 'account_') = ? "
        "ORDER BY e.EventID DESC LIMIT ?",
        (user_id, account, limit),
    )
    return [_event_from_row(row) for row in rows]


def events_for_copy(conn: sqlite3.Connection, copy_id: int, limit: int = 200) -> list[EventLine]:
    """The circulation events about a copy, newest first."""
    rows = conn.execute(
        f"{_EVENT_QUERY} WHERE e.CopyID = ? ORDER BY e.EventID DESC LIMIT ?", (copy_id, limit)
    )
    return [_event_from_row(row) for row in rows]


def overrides_for_patron(
    conn: sqlite3.Connection, user_id: int, limit: int = 50
) -> list[EventLine]:
    """The rules staff set aside for a patron (lend past a limit, due date, renewal), newest
    first: the patron page lists them apart from the rest of the log."""
    rows = conn.execute(
        f"{_EVENT_QUERY} WHERE e.UserID = ? AND e.Kind = 'override' ORDER BY e.EventID DESC "
        "LIMIT ?",
        (user_id, limit),
    )
    return [_event_from_row(row) for row in rows]
