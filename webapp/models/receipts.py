"""The receipt a patron may ask to be emailed after each visit to the desk.

A visit ends when the librarian presses "Done: next patron". If the patron
asked for receipts (Users.EmailReceipts) and has an email address, one message
lists what was lent to them and returned from them during the visit, with due
dates, and goes into the outbox in the same transaction as a 'receipt_queued'
event. That event is the visit's end: the next receipt lists only lends and
returns logged after it, so pressing Done twice (or on two desks) queues the
visit's receipt exactly once. A visit is bounded by the library day as well:
what a patron borrowed last week is not this visit.

A lend undone at the desk closed its loan, and an undone return reopened it:
neither is listed.
"""

from __future__ import annotations

import sqlite3
from datetime import date

from webapp import emails, outbox
from webapp.models import events


def queue_visit_receipt(
    conn: sqlite3.Connection,
    *,
    patron_id: int,
    actor_id: int,
    today: date,
    day_started_at: str,
    library_name: str,
) -> str | None:
    """Queue the receipt of the visit that is ending; return the address it goes to.

    None when nothing is sent: the patron did not ask for receipts, has no
    email address, or borrowed and returned nothing since their last receipt
    today. ``day_started_at`` is the start of the library's day as Events.At
    stores instants (UTC, milliseconds).
    """
    patron = conn.execute(
        "SELECT Name, Email, EmailReceipts FROM Users WHERE UserID = ?", (patron_id,)
    ).fetchone()
    if patron is None or not patron["EmailReceipts"] or not patron["Email"]:
        return None
    last_receipt = conn.execute(
        "SELECT coalesce(max(EventID), 0) FROM Events WHERE UserID = ? AND Kind = 'receipt_queued'",
        (patron_id,),
    ).fetchone()[0]
    rows = conn.execute(
        """
        SELECT e.Kind, b.Title, c.Barcode, l.ReturnDate
        FROM Events e JOIN Loans l ON l.LoanID = e.LoanID
        JOIN Books b ON b.BookID = l.BookID JOIN Copies c ON c.CopyID = l.CopyID
        WHERE e.UserID = ? AND e.EventID > ? AND e.At >= ?
          AND ((e.Kind = 'lend' AND l.ReturnedAt IS NULL)
               OR (e.Kind = 'return' AND l.ReturnedAt IS NOT NULL))
        ORDER BY e.EventID
        """,
        (patron_id, last_receipt, day_started_at),
    ).fetchall()
    lent = [
        emails.ReceiptItem(row["Title"], row["Barcode"], date.fromisoformat(row["ReturnDate"]))
        for row in rows
        if row["Kind"] == "lend"
    ]
    returned = [
        emails.ReceiptItem(row["Title"], row["Barcode"], None)
        for row in rows
        if row["Kind"] == "return"
    ]
    if not lent and not returned:
        return None
    outbox.enqueue(
        conn,
        kind="receipt",
        user_id=patron_id,
        recipient=patron["Email"],
        email=emails.receipt(
            library_name=library_name,
            patron_name=patron["Name"],
            day=today,
            lent=lent,
            returned=returned,
        ),
        header_message_id=outbox.receipt_message_id(patron_id),
    )
    events.log(
        conn,
        "receipt_queued",
        actor_id,
        user_id=patron_id,
        detail=f"lent {len(lent)}, returned {len(returned)}",
    )
    return patron["Email"]
