"""Undo at the desk: take back the librarian's last lend or return within a minute.

The event log is append-only, so nothing is deleted: undoing a lend closes the
loan as returned now (and puts back on the hold shelf a hold that lend had
filled); undoing a return reopens the loan, but only while the copy has not
been lent again (the unique index says so), and takes back a hold the return
had made ready, withdrawing its email if it has not been sent yet. Either way
an 'undo' event records what was reversed. The librarian's last action is read
from the event log, so the window survives a reload and belongs to whoever is
signed in.

``undo_last`` is a plain function of a connection, run by ``Database.write``
from the desk's Undo button (webapp/views/circulation.py).
"""

from __future__ import annotations

import sqlite3

from webapp import outbox
from webapp.models import events
from webapp.models.loans import close_loan
from webapp.models.outcome import Outcome, refused

# How long after a lend or return the desk can still take it back.
UNDO_SECONDS = 60


def undo_last(conn: sqlite3.Connection, *, actor_id: int) -> Outcome:
    """Take back this librarian's last action if it was a lend or return within ``UNDO_SECONDS``."""
    last = conn.execute(
        "SELECT *, At > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?) AS Recent FROM Events "
        "WHERE ActorID = ? AND Kind IN ('lend', 'return', 'undo', 'renew', 'hold_placed') "
        "ORDER BY EventID DESC LIMIT 1",
        (f"-{UNDO_SECONDS} seconds", actor_id),
    ).fetchone()
    if last is None or last["Kind"] == "undo":
        return refused("There is nothing to undo.")
    if last["Kind"] in ("renew", "hold_placed"):
        done = "a renewal" if last["Kind"] == "renew" else "a hold"
        return refused(f"Only a lend or a return can be undone; your last action was {done}.")
    if not last["Recent"]:
        return refused("Too late to undo: only the last minute's lend or return can be undone.")
    loan = conn.execute(
        "SELECT l.*, b.Title, u.Name FROM Loans l JOIN Books b ON b.BookID = l.BookID "
        "JOIN Users u ON u.UserID = l.UserID WHERE l.LoanID = ?",
        (last["LoanID"],),
    ).fetchone()
    if last["Kind"] == "lend":
        return _undo_lend(conn, loan, actor_id=actor_id)
    return _undo_return(conn, loan, return_event_id=last["EventID"], actor_id=actor_id)


def _undo_lend(conn: sqlite3.Connection, loan: sqlite3.Row, *, actor_id: int) -> Outcome:
    if loan["ReturnedAt"] is not None:
        return refused(
            f"{loan['Title']} has already been returned; nothing to undo.", loan["UserID"]
        )
    close_loan(conn, loan["LoanID"])
    message = f"Undone: {loan['Title']} is no longer lent to {loan['Name']}."
    filled = conn.execute(
        "SELECT h.HoldID, h.CopyID, h.PickupBy FROM Events e JOIN Holds h ON h.HoldID = e.HoldID "
        "WHERE e.LoanID = ? AND e.Kind = 'hold_filled' AND h.Status = 'filled'",
        (loan["LoanID"],),
    ).fetchone()
    if filled and filled["CopyID"] == loan["CopyID"] and filled["PickupBy"]:
        conn.execute(
            "UPDATE Holds SET Status = 'ready', ClosedAt = NULL WHERE HoldID = ?",
            (filled["HoldID"],),
        )
        message += " Their hold is ready again: put the copy back on the hold shelf."
    elif filled:
        conn.execute(
            "UPDATE Holds SET Status = 'waiting', CopyID = NULL, PickupBy = NULL, ClosedAt = NULL "
            "WHERE HoldID = ?",
            (filled["HoldID"],),
        )
        message += " Their hold is waiting again."
    events.log(
        conn,
        "undo",
        actor_id,
        user_id=loan["UserID"],
        book_id=loan["BookID"],
        copy_id=loan["CopyID"],
        loan_id=loan["LoanID"],
        hold_id=filled["HoldID"] if filled else None,
        detail="lend undone: loan closed" + ("; their hold reopened" if filled else ""),
    )
    return Outcome("undone", message, loan["UserID"], loan["LoanID"])


def _undo_return(
    conn: sqlite3.Connection, loan: sqlite3.Row, *, return_event_id: int, actor_id: int
) -> Outcome:
    readied = conn.execute(
        "SELECT h.HoldID, h.UserID, u.Name FROM Events e JOIN Holds h ON h.HoldID = e.HoldID "
        "JOIN Users u ON u.UserID = h.UserID "
        "WHERE e.LoanID = ? AND e.Kind = 'hold_ready' AND e.EventID > ? "
        "AND h.Status = 'ready' AND h.CopyID = ?",
        (loan["LoanID"], return_event_id, loan["CopyID"]),
    ).fetchone()
    try:
        conn.execute("UPDATE Loans SET ReturnedAt = NULL WHERE LoanID = ?", (loan["LoanID"],))
    except sqlite3.IntegrityError as error:
        if "Loans.CopyID" not in str(error):
            raise
        return refused(
            f"{loan['Title']} has been lent again since it was returned; nothing to undo."
        )
    message = f"Undone: {loan['Title']} is on loan to {loan['Name']} again."
    detail = "return undone: loan reopened"
    if readied:
        conn.execute(
            "UPDATE Holds SET Status = 'waiting', CopyID = NULL, PickupBy = NULL WHERE HoldID = ?",
            (readied["HoldID"],),
        )
        told = (
            ""
            if outbox.cancel_hold_notice(conn, readied["HoldID"])
            else " (their notice had already been sent)"
        )
        message += f" {readied['Name']}'s hold is waiting again{told}."
        detail += f"; {readied['Name']}'s hold waiting again"
    events.log(
        conn,
        "undo",
        actor_id,
        user_id=loan["UserID"],
        book_id=loan["BookID"],
        copy_id=loan["CopyID"],
        loan_id=loan["LoanID"],
        hold_id=readied["HoldID"] if readied else None,
        detail=detail,
    )
    return Outcome("undone", message, loan["UserID"], loan["LoanID"])
