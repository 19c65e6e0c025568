"""Reminder notices and the outbox: what is due, what was queued, what was delivered.

SQL only; the stage rules live in ``webapp.reminder_stages`` and the run itself
in ``webapp.jobs.reminders``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from webapp.db import Database
from webapp.reminder_stages import (
    DEFAULT_STAGES,
    earliest_due_date_with_a_stage,
    parse_stages,
    stage_for,
)


async def reminder_stages(db: Database) -> tuple[int, ...]:
    raw = await db.fetch_value("SELECT Value FROM LibrarySettings WHERE Key = 'reminder_stages'")
    return parse_stages(raw) if raw is not None else DEFAULT_STAGES


# The open loans that reach a reminder stage tonight, each with that stage. The
# rule is ``reminder_stages.stage_for``, called by SQLite as reminder_stage()
# (see _register_stage_rule) with the days overdue and the latest stage in the
# ledger for the loan's current due date. MATERIALIZED: otherwise SQLite
# flattens the outer filter into the inner query and evaluates the stage (the
# Python call and the ledger probe) twice per loan. Loans_OpenByUser holds
# every column read here, so walking it needs no table lookups, whereas the
# planner's pick by due date fetched each loan's row (measured 30-40% slower
# on bench.reminders --full).
_DUE_TONIGHT = """
    WITH Candidates AS MATERIALIZED (
        SELECT l.LoanID, l.UserID, l.ReturnDate AS DueDate,
               reminder_stage(CAST(julianday(:today) - julianday(l.ReturnDate) AS INTEGER),
                              (SELECT max(n.Stage) FROM Notices n
                               WHERE n.LoanID = l.LoanID AND n.DueDate = l.ReturnDate)) AS Stage
        FROM Loans l INDEXED BY Loans_OpenByUser
        WHERE l.ReturnedAt IS NULL AND l.ReturnDate <= :last_due
    )
    SELECT LoanID, UserID, DueDate, Stage FROM Candidates WHERE Stage IS NOT NULL
"""

_FLAGGED = """
    SELECT count(*) FROM Loans
    WHERE ReturnedAt IS NULL AND ReturnDate <= :last_due AND ReturnDate < :today
"""


def _register_stage_rule(conn: sqlite3.Connection, stages: tuple[int, ...]) -> None:
    conn.create_function(
        "reminder_stage",
        2,
        lambda overdue_by, latest_sent: stage_for(stages, overdue_by, latest_sent),
        deterministic=True,
    )


def _tonight(stages: tuple[int, ...], today: date) -> dict[str, str]:
    return {
        "today": today.isoformat(),
        "last_due": earliest_due_date_with_a_stage(stages, today).isoformat(),
    }


@dataclass(frozen=True)
class PlannedEmail:
    """One patron's reminder as a run tonight would queue it."""

    user_id: int
    recipient: str
    overdue: int
    due_soon: int

    @property
    def items(self) -> int:
        return self.overdue + self.due_soon


@dataclass(frozen=True)
class Plan:
    """What a run for ``today`` would flag and queue; nothing is written."""

    today: date
    flagged: int
    emails: list[PlannedEmail]
    by_hand: int

    @property
    def notice_count(self) -> int:
        return sum(email.items for email in self.emails) + self.by_hand


def plan_tonight(conn: sqlite3.Connection, stages: tuple[int, ...], today: date) -> Plan:
    """The preview of a run for ``today``, by the same query the run queues from (``db.read``)."""
    _register_stage_rule(conn, stages)
    params = _tonight(stages, today)
    rows = conn.execute(
        f"""
        SELECT d.UserID, u.Email, sum(d.Stage > 0) AS Overdue, sum(d.Stage < 0) AS DueSoon
        FROM ({_DUE_TONIGHT}) d JOIN Users u ON u.UserID = d.UserID
        GROUP BY d.UserID ORDER BY d.UserID
        """,
        params,
    ).fetchall()
    emails = [
        PlannedEmail(row["UserID"], row["Email"], row["Overdue"], row["DueSoon"])
        for row in rows
        if row["Email"] is not None
    ]
    by_hand = sum(row["Overdue"] + row["DueSoon"] for row in rows if row["Email"] is None)
    flagged = conn.execute(_FLAGGED, params).fetchone()[0]
    return Plan(today, flagged, emails, by_hand)


@dataclass(frozen=True)
class Queued:
    """What one run wrote: loans overdue, emails queued, ledger rows, patrons to notify by hand."""

    flagged: int
    emails: int
    notices: int
    by_hand_patrons: int


def queue_tonight(
    conn: sqlite3.Connection,
    stages: tuple[int, ...],
    today: date,
    now: str,
    header_id_prefix: str,
    sender_domain: str,
) -> Queued:
    """Write tonight's notices to the ledger and one email per patron to the outbox (``db.write``).

    Set-based, in the writer's transaction: the ledger and the outbox change
    together or not at all, and SQLite does the work without the GIL (only
    reminder_stage() is Python). An email is queued with an empty subject and
    bodies: the sender renders them from its ledger rows just before it goes
    out (``webapp.jobs.reminders``), so a night after a long closure queues
    tens of thousands of emails at the cost of the query. Patrons without an
    address get ledger rows with no message: the "notify by hand" list.

    ``now`` stamps the rows. Each email's Message-ID header is
    ``<prefix.rUserID@domain>``: one email per patron per run, and a random
    ``header_id_prefix`` per run, keep it unique across runs and copies of the
    database.
    """
    _register_stage_rule(conn, stages)
    params = {**_tonight(stages, today), "now": now}
    conn.execute(
        "CREATE TEMP TABLE DueTonight (UserID INTEGER NOT NULL, LoanID INTEGER NOT NULL, "
        "DueDate TEXT NOT NULL, Stage INTEGER NOT NULL, PRIMARY KEY (UserID, LoanID)) WITHOUT ROWID"
    )
    conn.execute(
        f"INSERT INTO temp.DueTonight (LoanID, UserID, DueDate, Stage) {_DUE_TONIGHT}", params
    )
    first_new = conn.execute("SELECT coalesce(max(MessageID), 0) + 1 FROM Outbox").fetchone()[0]
    emails = conn.execute(
        """
        INSERT INTO Outbox (Kind, UserID, Recipient, Subject, BodyText, BodyHtml,
                            HeaderMessageID, CreatedAt, NextAttemptAt)
        SELECT 'reminder', d.UserID, u.Email, '', '', '',
               printf('<%s.r%d@%s>', :prefix, d.UserID, :domain), :now, :now
        FROM (SELECT DISTINCT UserID FROM temp.DueTonight) d
        JOIN Users u ON u.UserID = d.UserID
        WHERE u.Email IS NOT NULL
        ORDER BY d.UserID
        """,
        {"prefix": header_id_prefix, "domain": sender_domain, "now": now},
    ).rowcount
    conn.execute(
        "CREATE TEMP TABLE TonightsMail (UserID INTEGER PRIMARY KEY, MessageID INTEGER NOT NULL)"
    )
    conn.execute(
        "INSERT INTO temp.TonightsMail (UserID, MessageID) "
        "SELECT UserID, MessageID FROM Outbox WHERE MessageID >= ?",
        (first_new,),
    )
    notices = conn.execute(
        """
        INSERT INTO Notices (LoanID, UserID, Stage, DueDate, RunDate, MessageID, CreatedAt)
        SELECT d.LoanID, d.UserID, d.Stage, d.DueDate, :today, m.MessageID, :now
        FROM temp.DueTonight d LEFT JOIN temp.TonightsMail m ON m.UserID = d.UserID
        """,
        params,
    ).rowcount
    by_hand_patrons = conn.execute(
        "SELECT count(DISTINCT UserID) FROM temp.DueTonight "
        "WHERE UserID NOT IN (SELECT UserID FROM temp.TonightsMail)"
    ).fetchone()[0]
    flagged = conn.execute(_FLAGGED, params).fetchone()[0]
    conn.execute("DROP TABLE temp.DueTonight")
    conn.execute("DROP TABLE temp.TonightsMail")
    return Queued(flagged, emails, notices, by_hand_patrons)


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
        message_id=row["MessageID"],
        kind=row["Kind"],
        user_id=row["UserID"],
        recipient=row["Recipient"],
        subject=row["Subject"],
        body_text=row["BodyText"],
        body_html=row["BodyHtml"],
        header_message_id=row["HeaderMessageID"],
        status=row["Status"],
        attempts=row["Attempts"],
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


@dataclass(frozen=True)
class Unsent:
    """A message still to deliver, with what its reminder is rendered from."""

    message: OutboxMessage
    patron_name: str
    # The loans a reminder carries, in the order the email lists them; empty for other kinds.
    items: tuple[CarriedItem, ...]


def unsent_messages(conn: sqlite3.Connection, message_ids: Sequence[int]) -> list[Unsent]:
    """Of these messages, those still pending or sending, with their patron and carried loans."""
    ids = json.dumps(list(message_ids))
    messages = conn.execute(
        """
        SELECT o.*, u.Name AS PatronName
        FROM json_each(?) wanted
        JOIN Outbox o ON o.MessageID = wanted.value
        JOIN Users u ON u.UserID = o.UserID
        WHERE o.Status IN ('pending', 'sending')
        ORDER BY o.MessageID
        """,
        (ids,),
    ).fetchall()
    items: dict[int, list[CarriedItem]] = {}
    for row in conn.execute(
        """
        SELECT n.MessageID, n.LoanID, b.Title, c.Barcode, n.Stage, n.DueDate, n.RunDate,
               (l.ReturnedAt IS NULL AND l.ReturnDate = n.DueDate) AS Live
        FROM Notices n
        JOIN Loans l ON l.LoanID = n.LoanID
        JOIN Books b ON b.BookID = l.BookID
        JOIN Copies c ON c.CopyID = l.CopyID
        WHERE n.MessageID IN (SELECT value FROM json_each(?))
        ORDER BY n.MessageID, n.Stage DESC, n.DueDate, n.LoanID
        """,
        (ids,),
    ):
        items.setdefault(row["MessageID"], []).append(
            CarriedItem(
                row["LoanID"],
                row["Title"],
                row["Barcode"],
                row["Stage"],
                date.fromisoformat(row["DueDate"]),
                date.fromisoformat(row["RunDate"]),
                bool(row["Live"]),
            )
        )
    return [
        Unsent(_message_from_row(row), row["PatronName"], tuple(items.get(row["MessageID"], ())))
        for row in messages
    ]


# The unary plus keeps SQLite from walking the Outbox_Due index over every
# pending message to find a handful by id: with a night's 30,000 emails
# pending, that made each update cost milliseconds instead of microseconds.
_THESE_UNSENT = (
    "MessageID IN (SELECT value FROM json_each(?)) AND +Status IN ('pending', 'sending')"
)


def write_content(
    conn: sqlite3.Connection, message_id: int, subject: str, text: str, html: str
) -> None:
    """The subject and bodies a reminder goes out with, rendered just before delivery."""
    conn.execute(
        "UPDATE Outbox SET Subject = ?, BodyText = ?, BodyHtml = ? WHERE MessageID = ?",
        (subject, text, html, message_id),
    )


def mark_all_sent(
    conn: sqlite3.Connection, message_ids: Sequence[int], transport: str, now: str
) -> int:
    """Mark the still-unsent messages among these as sent; returns how many."""
    return conn.execute(
        "UPDATE Outbox SET Status = 'sent', SentAt = ?, Transport = ?, SendingSince = NULL "
        f"WHERE {_THESE_UNSENT}",
        (now, transport, json.dumps(list(message_ids))),
    ).rowcount


def mark_cancelled(conn: sqlite3.Connection, message_id: int, reason: str) -> None:
    conn.execute(
        "UPDATE Outbox SET Status = 'cancelled', LastError = ?, SendingSince = NULL "
        "WHERE MessageID = ?",
        (reason, message_id),
    )


def mark_sending(
    conn: sqlite3.Connection, message_id: int, now: str, interrupted_before: bool
) -> None:
    conn.execute(
        "UPDATE Outbox SET Status = 'sending', SendingSince = ?, Attempts = Attempts + 1, "
        "LastError = CASE WHEN ? THEN 'an earlier attempt was interrupted; sent again with the "
        "same Message-ID' ELSE LastError END WHERE MessageID = ?",
        (now, interrupted_before, message_id),
    )


def mark_sent(conn: sqlite3.Connection, message_id: int, transport: str, now: str) -> None:
    conn.execute(
        "UPDATE Outbox SET Status = 'sent', SentAt = ?, Transport = ?, SendingSince = NULL "
        "WHERE MessageID = ?",
        (now, transport, message_id),
    )


def mark_retry(conn: sqlite3.Connection, message_id: int, error: str, next_attempt_at: str) -> None:
    conn.execute(
        "UPDATE Outbox SET Status = 'pending', LastError = ?, NextAttemptAt = ?, SendingSince = NULL "
        "WHERE MessageID = ?",
        (error, next_attempt_at, message_id),
    )


def defer(
    conn: sqlite3.Connection, message_ids: Sequence[int], error: str, next_attempt_at: str
) -> None:
    """Put back to pending, with the reason, messages the server could not take now."""
    conn.execute(
        "UPDATE Outbox SET Status = 'pending', SendingSince = NULL, LastError = ?, NextAttemptAt = ? "
        f"WHERE {_THESE_UNSENT}",
        (error, next_attempt_at, json.dumps(list(message_ids))),
    )


def mark_failed(conn: sqlite3.Connection, message_id: int, error: str) -> None:
    conn.execute(
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
    return [
        MailboxEntry(r["MessageID"], r["Kind"], r["Recipient"], r["Subject"], r["SentAt"])
        for r in rows
    ]


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
    return [
        FailedMessage(
            r["MessageID"],
            r["Kind"],
            r["Recipient"],
            r["Subject"],
            r["LastError"] or "",
            r["CreatedAt"],
        )
        for r in rows
    ]


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
    return [
        HandListEntry(
            r["Name"],
            r["CardNumber"],
            r["Title"],
            r["Barcode"],
            date.fromisoformat(r["DueDate"]),
            r["Stage"],
            date.fromisoformat(r["RunDate"]),
        )
        for r in rows
    ]
