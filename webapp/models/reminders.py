"""Reminder notices and the outbox: what is due, what was queued, what was delivered.

SQL only; the stage rules live in ``webapp.reminder_stages`` and the run itself
in ``webapp.jobs.reminders``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from webapp.db import Database, Transaction
from webapp.reminder_stages import DEFAULT_STAGES, parse_stages


@dataclass(frozen=True)
class OpenLoan:
    """An open loan that may have reached a reminder stage, with the stages already sent."""

    loan_id: int
    user_id: int
    patron_name: str
    email: str | None
    title: str
    barcode: str
    due: date
    sent_stages: tuple[int, ...]


async def reminder_stages(db: Database) -> tuple[int, ...]:
    raw = await db.fetch_value("SELECT Value FROM LibrarySettings WHERE Key = 'reminder_stages'")
    return parse_stages(raw) if raw is not None else DEFAULT_STAGES


async def open_loans_due_by(db: Database, last_due: date) -> list[OpenLoan]:
    """Open loans due on or before ``last_due``, with the stages sent for their current due date."""
    rows = await db.fetch_all(
        """
        SELECT l.LoanID, l.UserID, u.Name, u.Email, b.Title, c.Barcode, l.ReturnDate,
               (SELECT group_concat(n.Stage) FROM Notices n
                WHERE n.LoanID = l.LoanID AND n.DueDate = l.ReturnDate) AS SentStages
        FROM Loans l
        JOIN Users u ON u.UserID = l.UserID
        JOIN Books b ON b.BookID = l.BookID
        JOIN Copies c ON c.CopyID = l.CopyID
        WHERE l.ReturnedAt IS NULL AND l.ReturnDate <= ?
        ORDER BY l.UserID, l.ReturnDate, l.LoanID
        """,
        (last_due.isoformat(),),
    )
    return [
        OpenLoan(
            loan_id=row["LoanID"],
            user_id=row["UserID"],
            patron_name=row["Name"],
            email=row["Email"],
            title=row["Title"],
            barcode=row["Barcode"],
            due=date.fromisoformat(row["ReturnDate"]),
            sent_stages=tuple(int(s) for s in row["SentStages"].split(",")) if row["SentStages"] else (),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class QueuedEmail:
    user_id: int
    recipient: str
    subject: str
    body_text: str
    body_html: str
    header_message_id: str
    # (loan id, stage, due date) of each notice the email carries.
    notices: tuple[tuple[int, int, date], ...]


@dataclass(frozen=True)
class HandNotice:
    """A notice for a patron without an email address: the desk contacts them."""

    user_id: int
    loan_id: int
    stage: int
    due: date


async def queue_notices(
    db: Database, emails: Sequence[QueuedEmail], by_hand: Sequence[HandNotice], run_date: date
) -> None:
    """Write the emails to the outbox and their notices to the ledger, all or nothing.

    Bulk statements rather than a round trip per email: a night after a long
    closure can queue tens of thousands of emails.
    """
    async with db.transaction() as tx:
        before = await tx.fetch_value("SELECT coalesce(max(MessageID), 0) FROM Outbox")
        await tx.executemany(
            "INSERT INTO Outbox (Kind, UserID, Recipient, Subject, BodyText, BodyHtml, "
            "HeaderMessageID) VALUES ('reminder', ?, ?, ?, ?, ?, ?)",
            [(m.user_id, m.recipient, m.subject, m.body_text, m.body_html, m.header_message_id)
             for m in emails],
        )
        ids = {
            row["HeaderMessageID"]: row["MessageID"]
            for row in await tx.fetch_all(
                "SELECT MessageID, HeaderMessageID FROM Outbox WHERE MessageID > ?", (before,)
            )
        }
        await tx.executemany(
            "INSERT INTO Notices (LoanID, UserID, Stage, DueDate, RunDate, MessageID) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(loan_id, m.user_id, stage, due.isoformat(), run_date.isoformat(),
              ids[m.header_message_id])
             for m in emails for loan_id, stage, due in m.notices],
        )
        await tx.executemany(
            "INSERT INTO Notices (LoanID, UserID, Stage, DueDate, RunDate) VALUES (?, ?, ?, ?, ?)",
            [(n.loan_id, n.user_id, n.stage, n.due.isoformat(), run_date.isoformat()) for n in by_hand],
        )


@dataclass(frozen=True)
class OutboxMessage:
    message_id: int
    kind: str
    user_id: int
    recipient: str
    subject: str
    body_text: str
    body_html: str
    header_message_id: str
    status: str
    attempts: int


def _message_from_row(row) -> OutboxMessage:
    return OutboxMessage(
        message_id=row["MessageID"], kind=row["Kind"], user_id=row["UserID"],
        recipient=row["Recipient"], subject=row["Subject"], body_text=row["BodyText"],
        body_html=row["BodyHtml"], header_message_id=row["HeaderMessageID"],
        status=row["Status"], attempts=row["Attempts"],
    )


async def deliverable_ids(db: Database, now: str | None) -> list[int]:
    """Messages waiting to go, oldest first; with ``now``, only those whose backoff has passed.

    'sending' rows are included: under the lease nobody else is sending, so
    such a row is an attempt a killed process left unresolved.
    """
    if now is None:
        rows = await db.fetch_all(
            "SELECT MessageID FROM Outbox WHERE Status IN ('pending', 'sending') ORDER BY MessageID"
        )
    else:
        rows = await db.fetch_all(
            "SELECT MessageID FROM Outbox WHERE Status IN ('pending', 'sending') "
            "AND NextAttemptAt <= ? ORDER BY MessageID",
            (now,),
        )
    return [row[0] for row in rows]


@dataclass(frozen=True)
class CarriedItem:
    """A loan an email mentions, and whether it still should be (open, same due date)."""

    loan_id: int
    title: str
    barcode: str
    stage: int
    due: date
    run_date: date
    live: bool


async def carried_items(tx: Transaction, message_id: int) -> list[CarriedItem]:
    rows = await tx.fetch_all(
        """
        SELECT n.LoanID, b.Title, c.Barcode, n.Stage, n.DueDate, n.RunDate,
               (l.ReturnedAt IS NULL AND l.ReturnDate = n.DueDate) AS Live
        FROM Notices n
        JOIN Loans l ON l.LoanID = n.LoanID
        JOIN Books b ON b.BookID = l.BookID
        JOIN Copies c ON c.CopyID = l.CopyID
        WHERE n.MessageID = ?
        ORDER BY n.Stage DESC, n.DueDate, n.LoanID
        """,
        (message_id,),
    )
    return [
        CarriedItem(row["LoanID"], row["Title"], row["Barcode"], row["Stage"],
                    date.fromisoformat(row["DueDate"]), date.fromisoformat(row["RunDate"]),
                    bool(row["Live"]))
        for row in rows
    ]


async def with_items_gone(tx: Transaction, message_ids: list[int]) -> list[int]:
    """Of these messages, those mentioning a loan since returned or renewed."""
    rows = await tx.fetch_all(
        """
        SELECT DISTINCT n.MessageID FROM Notices n JOIN Loans l ON l.LoanID = n.LoanID
        WHERE n.MessageID IN (SELECT value FROM json_each(?))
          AND NOT (l.ReturnedAt IS NULL AND l.ReturnDate = n.DueDate)
        ORDER BY n.MessageID
        """,
        (json.dumps(message_ids),),
    )
    return [row[0] for row in rows]


async def mark_all_sent(tx: Transaction, message_ids: list[int], transport: str, now: str) -> int:
    """Mark the still-unsent messages among these as sent; returns how many."""
    cursor = await tx.execute(
        "UPDATE Outbox SET Status = 'sent', SentAt = ?, Transport = ?, SendingSince = NULL "
        "WHERE MessageID IN (SELECT value FROM json_each(?)) AND Status IN ('pending', 'sending')",
        (now, transport, json.dumps(message_ids)),
    )
    return cursor.rowcount


async def message_in(tx: Transaction, message_id: int) -> OutboxMessage | None:
    row = await tx.fetch_one("SELECT * FROM Outbox WHERE MessageID = ?", (message_id,))
    return None if row is None else _message_from_row(row)


async def rewrite_body(tx: Transaction, message_id: int, subject: str, text: str, html: str) -> None:
    await tx.execute(
        "UPDATE Outbox SET Subject = ?, BodyText = ?, BodyHtml = ? WHERE MessageID = ?",
        (subject, text, html, message_id),
    )


async def mark_cancelled(tx: Transaction, message_id: int, reason: str) -> None:
    await tx.execute(
        "UPDATE Outbox SET Status = 'cancelled', LastError = ?, SendingSince = NULL "
        "WHERE MessageID = ?",
        (reason, message_id),
    )


async def mark_sending(tx: Transaction, message_id: int, now: str, interrupted_before: bool) -> None:
    await tx.execute(
        "UPDATE Outbox SET Status = 'sending', SendingSince = ?, Attempts = Attempts + 1, "
        "LastError = CASE WHEN ? THEN 'an earlier attempt was interrupted; sent again with the "
        "same Message-ID' ELSE LastError END WHERE MessageID = ?",
        (now, interrupted_before, message_id),
    )


async def mark_sent(tx: Transaction, message_id: int, transport: str, now: str) -> None:
    await tx.execute(
        "UPDATE Outbox SET Status = 'sent', SentAt = ?, Transport = ?, SendingSince = NULL "
        "WHERE MessageID = ?",
        (now, transport, message_id),
    )


async def mark_retry(tx: Transaction, message_id: int, error: str, next_attempt_at: str) -> None:
    await tx.execute(
        "UPDATE Outbox SET Status = 'pending', LastError = ?, NextAttemptAt = ?, SendingSince = NULL "
        "WHERE MessageID = ?",
        (error, next_attempt_at, message_id),
    )


async def defer(tx: Transaction, message_ids: list[int], error: str, next_attempt_at: str) -> None:
    """Put back to pending, with the reason, messages the server could not take now."""
    await tx.execute(
        "UPDATE Outbox SET Status = 'pending', SendingSince = NULL, LastError = ?, NextAttemptAt = ? "
        "WHERE MessageID IN (SELECT value FROM json_each(?)) AND Status IN ('pending', 'sending')",
        (error, next_attempt_at, json.dumps(message_ids)),
    )


async def patron_name(tx: Transaction, user_id: int) -> str:
    return await tx.fetch_value("SELECT Name FROM Users WHERE UserID = ?", (user_id,))


async def mark_failed(tx: Transaction, message_id: int, error: str) -> None:
    await tx.execute(
        "UPDATE Outbox SET Status = 'failed', LastError = ?, SendingSince = NULL WHERE MessageID = ?",
        (error, message_id),
    )


async def count_pending(db: Database) -> int:
    return await db.fetch_value(
        "SELECT count(*) FROM Outbox WHERE Status IN ('pending', 'sending')"
    )


@dataclass(frozen=True)
class MailboxEntry:
    message_id: int
    kind: str
    recipient: str
    subject: str
    sent_at: str


async def mailbox(db: Database, limit: int = 200) -> list[MailboxEntry]:
    """Messages delivered to the in-app mailbox, newest first."""
    rows = await db.fetch_all(
        "SELECT MessageID, Kind, Recipient, Subject, SentAt FROM Outbox "
        "WHERE Transport = 'mailbox' ORDER BY SentAt DESC, MessageID DESC LIMIT ?",
        (limit,),
    )
    return [MailboxEntry(r["MessageID"], r["Kind"], r["Recipient"], r["Subject"], r["SentAt"])
            for r in rows]


async def mailbox_message(db: Database, message_id: int) -> OutboxMessage | None:
    row = await db.fetch_one(
        "SELECT * FROM Outbox WHERE MessageID = ? AND Transport = 'mailbox'", (message_id,)
    )
    return None if row is None else _message_from_row(row)


@dataclass(frozen=True)
class FailedMessage:
    message_id: int
    kind: str
    recipient: str
    subject: str
    error: str
    created_at: str


async def failed_messages(db: Database, limit: int = 100) -> list[FailedMessage]:
    """Messages the mail server refused for good, with its answer."""
    rows = await db.fetch_all(
        "SELECT MessageID, Kind, Recipient, Subject, LastError, CreatedAt FROM Outbox "
        "WHERE Status = 'failed' ORDER BY MessageID DESC LIMIT ?",
        (limit,),
    )
    return [FailedMessage(r["MessageID"], r["Kind"], r["Recipient"], r["Subject"],
                          r["LastError"] or "", r["CreatedAt"]) for r in rows]


@dataclass(frozen=True)
class HandListEntry:
    patron_name: str
    card_number: str | None
    title: str
    barcode: str
    due: date
    stage: int
    run_date: date


async def notify_by_hand(db: Database, limit: int = 500) -> list[HandListEntry]:
    """Patrons without an email address to contact, for loans still open and still due then."""
    rows = await db.fetch_all(
        """
        SELECT u.Name, u.CardNumber, b.Title, c.Barcode, n.DueDate, n.Stage, n.RunDate
        FROM Notices n
        JOIN Loans l ON l.LoanID = n.LoanID
        JOIN Users u ON u.UserID = n.UserID
        JOIN Books b ON b.BookID = l.BookID
        JOIN Copies c ON c.CopyID = l.CopyID
        WHERE n.MessageID IS NULL AND l.ReturnedAt IS NULL AND l.ReturnDate = n.DueDate
          AND n.Stage = (SELECT max(Stage) FROM Notices m
                         WHERE m.LoanID = n.LoanID AND m.DueDate = n.DueDate)
        ORDER BY u.Name, u.UserID, n.DueDate
        LIMIT ?
        """,
        (limit,),
    )
    return [HandListEntry(r["Name"], r["CardNumber"], r["Title"], r["Barcode"],
                          date.fromisoformat(r["DueDate"]), r["Stage"],
                          date.fromisoformat(r["RunDate"])) for r in rows]

