"""The outbox: every email the library sends, from queued to sent, exactly once.

A message is a row in Outbox. Its status moves

    pending -> sending    committed before a byte goes to the mail server
    sending -> sent       the server answered 250 to DATA
    sending -> pending    4xx, a timeout, a lost connection: retried after a backoff
    sending -> failed     5xx: retrying cannot help; the server's answer is kept
    pending -> sent       the in-app mailbox took it (no mail server configured)
    pending -> cancelled  a reminder none of whose items is still due; an undone hold

Three writers queue messages: the desk queues a hold-ready notice or a visit
receipt (``webapp.models.receipts``), already rendered, with ``enqueue`` in its
own transaction; a password reset or an invitation is queued the same way by
``webapp.models.sign_in_tokens`` (and sent at once by ``webapp.send_now``,
under the same lease as everything below); the nightly run queues
reminders set-based (``webapp.models.reminders.queue_tonight``), without their
subject and bodies. A reminder is rendered (``webapp.emails.reminder``) from its
ledger rows -- the items still open at the same due date, at the stage and date
of the run that queued them -- in the same transaction that marks it
``sending`` (or, for the in-app mailbox, ``sent``), and written to its row, so
the outbox keeps exactly what went out. Rendering at queue time made a night
after a long closure spend seconds rendering before a first email could leave;
now that cost is spread over the sending.

A reminder is rendered in the notice wording in force when it was queued
(``WordingVersion``, ``webapp.models.wording``), as hold notices and
invitations are by being rendered then: an admin's edit applies to notices
queued after it. Its copy to the patron's guardian (``Cc``, set when queued)
goes only while it still carries an overdue loan.

``deliver`` sends what is waiting over a ``webapp.mail`` Transport. The caller
holds the job lease (``webapp.leases``), so nobody else is sending meanwhile.

Exactly once, and the window we cannot close
--------------------------------------------
For each message over SMTP: (a) in one transaction, render it from its loans
still open at the same due date (an item returned or renewed since queueing is
left out; with none left the message is cancelled) and mark it ``sending``,
committed BEFORE any byte of the message goes out; (b) MAIL/RCPT/DATA on the
run's one connection; (c) only when the server has answered 250 to DATA, commit
``sent``. A 4xx, a timeout or a lost connection commits ``pending`` with a
backoff; a 5xx commits ``failed`` with the server's answer.

A process killed at any moment therefore leaves each message in one of three
states. ``pending``/``sent``/``failed`` are unambiguous. ``sending`` means "the
outcome is unknown": the kill came between (a) and (c). The next run (which
can take the lease at once: a holder whose process is gone on this host is
ignored) sends such a message again, with the SAME Message-ID header.

Why resend rather than give up: if the kill came before the server's 250 -- by
far the widest part of the window, since it spans the whole SMTP dialogue and
the transfer of DATA -- the server has not accepted the message (a server
accepts only by answering the final dot; aiosmtpd, like any MTA, abandons a
transaction whose connection drops first), so resending is what delivers it
exactly once. Only a kill in the sliver between the server's 250 reaching us and
our COMMIT of ``sent`` (microseconds, with no I/O other than the commit) can
produce a second copy -- as can a connection cut after the final dot but before
the server's reply reaches us, which SMTP itself cannot disambiguate -- and that
copy carries the same Message-ID, which mail stores and clients use to fold
duplicates. We accept that rare duplicate rather than the alternative (treating
``sending`` as sent), which would silently lose every message whose transfer
was cut off -- the worse failure for a library.

The lease is renewed before every message; a run that stalls past its expiry
(five minutes, far beyond the SMTP timeouts) finds it gone and stops.

Without ``SHELFMARK_SMTP_HOST`` delivery is the in-app mailbox: marking a batch
``sent`` with transport ``mailbox`` IS the delivery, one transaction, no window.

The SQL is in plain functions run on a connection's thread by ``db.read`` or
``db.write``.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from webapp import emails, loan_advice
from webapp.clock import utc_stamp
from webapp.config import Settings
from webapp.db import Database
from webapp.emails import RenderedEmail
from webapp.mail import OutcomeKind, OutgoingMessage, Transport, header_safe
from webapp.models import wording
from webapp.models.rule_settings import load_calendar, rule_for
from webapp.notice_templates import Wording

# Messages rendered and marked sent per mailbox transaction. Rendering is
# Python in the writer's thread, competing for the GIL with the event loop, so
# batches stay small (about 30 ms of work each on the benchmark machine) and
# the loop runs between them: p99 lag under 13 ms in bench.reminders --full.
MAILBOX_BATCH = 50
FIRST_RETRY = timedelta(minutes=5)
LONGEST_RETRY = timedelta(hours=6)
CANCELLED_REASON = "every item was returned or renewed before the reminder went out"


def retry_delay(attempts: int) -> timedelta:
    """Backoff before the next try: 5 min, 10, 20 … capped at 6 hours."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_RETRY)


# Queueing


def enqueue(
    conn: sqlite3.Connection,
    *,
    kind: str,
    user_id: int,
    recipient: str,
    email: RenderedEmail,
    header_message_id: str,
) -> None:
    """Queue one rendered message, pending and due at once, in the caller's transaction."""
    conn.execute(
        "INSERT INTO Outbox (Kind, UserID, Recipient, Subject, BodyText, BodyHtml, "
        "HeaderMessageID) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            kind,
            user_id,
            recipient,
            email.subject,
            email.body_text,
            email.body_html,
            header_message_id,
        ),
    )


def hold_message_id(hold_id: int) -> str:
    """A unique Message-ID for a hold notice; its prefix lets ``cancel_hold_notice`` find it."""
    return f"<hold-ready-{hold_id}-{secrets.token_hex(8)}@shelfmark.invalid>"


def receipt_message_id(user_id: int) -> str:
    """A unique Message-ID for a patron's visit receipt."""
    return f"<receipt-{user_id}-{secrets.token_hex(8)}@shelfmark.invalid>"


def cancel_hold_notice(conn: sqlite3.Connection, hold_id: int) -> bool:
    """Cancel the hold's ready notice if it has not gone yet; False if it had (or there is none)."""
    return (
        conn.execute(
            "UPDATE Outbox SET Status = 'cancelled' "
            "WHERE Kind = 'hold_ready' AND Status = 'pending' AND HeaderMessageID LIKE ?",
            (f"<hold-ready-{hold_id}-%",),
        ).rowcount
        > 0
    )


# What is waiting


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
    # A reminder's copy to the patron's guardian, while it carries an overdue loan.
    cc: str | None = None
    # The NoticeWordings row newest when a reminder was queued: it goes out in the
    # wording in force then (webapp.models.wording).
    wording_version: int = 0


def _message_from_row(row: sqlite3.Row) -> OutboxMessage:
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
        cc=row["Cc"],
        wording_version=row["WordingVersion"],
    )


def deliverable_ids(conn: sqlite3.Connection, now: str | None) -> list[int]:
    """Messages waiting to go, oldest first; with ``now``, only those whose backoff has passed.

    'sending' rows are included: under the lease nobody else is sending, so
    such a row is an attempt a killed process left unresolved.
    """
    if now is None:
        rows = conn.execute(
            "SELECT MessageID FROM Outbox WHERE Status IN ('pending', 'sending') ORDER BY MessageID"
        )
    else:
        rows = conn.execute(
            "SELECT MessageID FROM Outbox WHERE Status IN ('pending', 'sending') "
            "AND NextAttemptAt <= ? ORDER BY MessageID",
            (now,),
        )
    return [row[0] for row in rows]


def count_pending(conn: sqlite3.Connection) -> int:
    return conn.execute(
        "SELECT count(*) FROM Outbox WHERE Status IN ('pending', 'sending')"
    ).fetchone()[0]


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
    # What the patron may do about it on the run's date: renew online, or why not.
    advice: loan_advice.RenewalAdvice


@dataclass(frozen=True)
class Unsent:
    """A message still to deliver, with what its reminder is rendered from."""

    message: OutboxMessage
    patron_name: str
    # The loans a reminder carries, in the order the email lists them; empty for other kinds.
    items: tuple[CarriedItem, ...]
    # A reminder's edited wordings (by kind) in force when it was queued.
    wordings: Mapping[str, Wording] = field(default_factory=dict)

    @property
    def cc(self) -> str | None:
        """The guardian's copy, for a reminder that still carries an overdue loan only:
        one whose overdue items all came back goes out as a courtesy notice, uncopied."""
        if any(item.live and item.stage > 0 for item in self.items):
            return self.message.cc
        return None


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
    # The rules as they stand when the email is written, as a renewal would meet them.
    calendar = load_calendar(conn)
    for row in conn.execute(
        """
        SELECT n.MessageID, n.LoanID, b.Title, c.Barcode, n.Stage, n.DueDate, n.RunDate,
               (l.ReturnedAt IS NULL AND l.ReturnDate = n.DueDate) AS Live,
               l.Renewals, u.CategoryID, c.ItemTypeID,
               EXISTS (SELECT 1 FROM Holds h WHERE h.BookID = l.BookID
                       AND h.Status = 'waiting' AND h.UserID <> l.UserID) AS HeldByAnother
        FROM Notices n
        JOIN Loans l ON l.LoanID = n.LoanID
        JOIN Users u ON u.UserID = l.UserID
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
                loan_advice.renewal_advice(
                    rule=rule_for(conn, row["CategoryID"] or 0, row["ItemTypeID"]),
                    renewals=row["Renewals"],
                    due=date.fromisoformat(row["DueDate"]),
                    today=date.fromisoformat(row["RunDate"]),
                    held_by_another=bool(row["HeldByAnother"]),
                    calendar=calendar,
                ),
            )
        )
    wordings_at: dict[int, dict[str, Wording]] = {}
    unsent = []
    for row in messages:
        message = _message_from_row(row)
        # Version 0: queued before any edit, built-in wording; no query for the usual case.
        if message.kind == "reminder" and message.wording_version not in wordings_at:
            wordings_at[message.wording_version] = (
                wording.wordings_as_of(conn, message.wording_version)
                if message.wording_version
                else {}
            )
        unsent.append(
            Unsent(
                message,
                row["PatronName"],
                tuple(items.get(row["MessageID"], ())),
                wordings_at.get(message.wording_version, {}),
            )
        )
    return unsent


# Moving a message on


# The unary plus keeps SQLite from walking the Outbox_Due index over every
# pending message to find a handful by id: with a night's 30,000 emails
# pending, that made each update cost milliseconds instead of microseconds.
_THESE_UNSENT = (
    "MessageID IN (SELECT value FROM json_each(?)) AND +Status IN ('pending', 'sending')"
)


def write_content(
    conn: sqlite3.Connection, message_id: int, email: RenderedEmail, cc: str | None
) -> None:
    """The subject, bodies and copy a reminder goes out with, rendered just before delivery."""
    conn.execute(
        "UPDATE Outbox SET Subject = ?, BodyText = ?, BodyHtml = ?, Cc = ? WHERE MessageID = ?",
        (email.subject, email.body_text, email.body_html, cc, message_id),
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
        "UPDATE Outbox SET Status = 'pending', LastError = ?, NextAttemptAt = ?, "
        "SendingSince = NULL WHERE MessageID = ?",
        (error, next_attempt_at, message_id),
    )


def defer(
    conn: sqlite3.Connection, message_ids: Sequence[int], error: str, next_attempt_at: str
) -> None:
    """Put back to pending, with the reason, messages the server could not take now."""
    conn.execute(
        "UPDATE Outbox SET Status = 'pending', SendingSince = NULL, LastError = ?, "
        f"NextAttemptAt = ? WHERE {_THESE_UNSENT}",
        (error, next_attempt_at, json.dumps(list(message_ids))),
    )


def mark_failed(conn: sqlite3.Connection, message_id: int, error: str) -> None:
    conn.execute(
        "UPDATE Outbox SET Status = 'failed', LastError = ?, SendingSince = NULL "
        "WHERE MessageID = ?",
        (error, message_id),
    )


# Delivery


def _content(settings: Settings, unsent: Unsent) -> RenderedEmail | None:
    """What the message goes out with; None for a reminder none of whose items is still due.

    A reminder is rendered from its loans still open at the due date it was
    queued for; other kinds (hold-ready notices) were rendered when queued.
    """
    message = unsent.message
    if message.kind != "reminder":
        return RenderedEmail(message.subject, message.body_text, message.body_html)
    live = [item for item in unsent.items if item.live]
    if not live:
        return None
    return emails.reminder(
        settings.library_name,
        unsent.patron_name,
        ((i.stage, i.title, i.barcode, i.due, i.advice) for i in live),
        live[0].run_date,
        unsent.wordings,
    )


@dataclass(frozen=True)
class Prepared:
    """A message marked 'sending' and what goes out, or nothing to send (and whether cancelled)."""

    outgoing: OutgoingMessage | None
    attempts: int = 0
    cancelled: bool = False


def prepare(conn: sqlite3.Connection, settings: Settings, message_id: int, now: str) -> Prepared:
    """Render and mark 'sending', one transaction committed before the server sees a byte."""
    found = unsent_messages(conn, [message_id])
    if not found:
        return Prepared(None)
    unsent = found[0]
    message = unsent.message
    rendered = _content(settings, unsent)
    if rendered is None:
        mark_cancelled(conn, message_id, CANCELLED_REASON)
        return Prepared(None, cancelled=True)
    if message.kind == "reminder":
        write_content(conn, message_id, rendered, unsent.cc)
    mark_sending(conn, message_id, now, message.status == "sending")
    outgoing = OutgoingMessage(
        header_safe(message.recipient),
        rendered.subject,
        rendered.body_text,
        rendered.body_html,
        message.header_message_id,
        header_safe(unsent.cc) if unsent.cc else None,
    )
    return Prepared(outgoing, message.attempts + 1)


def record_outcome(
    conn: sqlite3.Connection,
    message_id: int,
    kind: OutcomeKind,
    detail: str,
    transport: str,
    now: str,
    retry_at: str,
) -> None:
    """The server's answer to one message, one statement: sent, failed for good, or retry."""
    if kind == "accepted":
        mark_sent(conn, message_id, transport, now)
    elif kind == "permanent":
        mark_failed(conn, message_id, detail)
    else:
        mark_retry(conn, message_id, detail, retry_at)


def deliver_to_mailbox(
    conn: sqlite3.Connection, settings: Settings, message_ids: list[int], now: str
) -> tuple[int, int]:
    """Render and deliver a batch in one transaction: the commit is the delivery.

    Returns how many were sent and how many cancelled.
    """
    cancelled = 0
    for unsent in unsent_messages(conn, message_ids):
        message = unsent.message
        if message.kind != "reminder":
            continue
        rendered = _content(settings, unsent)
        if rendered is None:
            mark_cancelled(conn, message.message_id, CANCELLED_REASON)
            cancelled += 1
        else:
            write_content(conn, message.message_id, rendered, unsent.cc)
    return mark_all_sent(conn, message_ids, "mailbox", now), cancelled


@dataclass
class Delivery:
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred: int = 0
    error: str | None = None
    # The mail server's last 4xx answer to a message (the message stays pending).
    last_deferral: str | None = None

    @property
    def all_deferred(self) -> bool:
        """The server answered "try later" (4xx) to every message it was given: nothing
        went out, though the connection worked (a full queue, greylisting, a quota)."""
        return self.deferred > 0 and self.sent == 0 and self.last_deferral is not None


async def deliver(
    db: Database,
    settings: Settings,
    transport: Transport,
    *,
    respect_backoff: bool,
    keep_lease: Callable[[], Awaitable[None]],
    clock: Callable[[], datetime],
) -> Delivery:
    """Send what the outbox holds, each message at most once per attempt (see module doc).

    ``respect_backoff`` False sends every waiting message (the nightly run);
    True only those whose retry time has come (the sweep). ``keep_lease`` is
    awaited before every message or batch: it renews the caller's lease and
    raises when the lease is lost, which stops the delivery.
    """
    delivery = Delivery()
    due = await db.read(deliverable_ids, utc_stamp(clock()) if respect_backoff else None)
    if not due:
        return delivery
    problem = await transport.open()
    if problem is not None:
        await _defer_all(db, due, problem.detail, clock())
        delivery.deferred = len(due)
        delivery.error = problem.detail
        return delivery
    try:
        if transport.name == "mailbox":
            for start in range(0, len(due), MAILBOX_BATCH):
                await keep_lease()
                sent, cancelled = await db.write(
                    deliver_to_mailbox,
                    settings,
                    due[start : start + MAILBOX_BATCH],
                    utc_stamp(clock()),
                )
                delivery.sent += sent
                delivery.cancelled += cancelled
            return delivery
        for index, message_id in enumerate(due):
            await keep_lease()
            prepared = await db.write(prepare, settings, message_id, utc_stamp(clock()))
            if prepared.cancelled:
                delivery.cancelled += 1
            if prepared.outgoing is None:
                continue
            outcome = await transport.deliver(prepared.outgoing)
            now = clock()
            await db.write(
                record_outcome,
                message_id,
                outcome.kind,
                outcome.detail,
                transport.name,
                utc_stamp(now),
                utc_stamp(now + retry_delay(prepared.attempts)),
            )
            if outcome.kind == "accepted":
                delivery.sent += 1
            elif outcome.kind == "permanent":
                delivery.failed += 1
            else:
                delivery.deferred += 1
                delivery.last_deferral = outcome.detail
            if outcome.connection_lost:
                rest = due[index + 1 :]
                await _defer_all(db, rest, outcome.detail, clock())
                delivery.deferred += len(rest)
                delivery.error = outcome.detail
                break
    finally:
        await transport.close()
    return delivery


async def _defer_all(db: Database, message_ids: list[int], error: str, now: datetime) -> None:
    """Leave messages pending after the server could not be used, retrying after a backoff."""
    if message_ids:
        await db.write(defer, message_ids, error, utc_stamp(now + retry_delay(1)))


# What the staff pages show


@dataclass(frozen=True)
class MailboxEntry:
    message_id: int
    kind: str
    recipient: str
    subject: str
    sent_at: str


def mailbox(conn: sqlite3.Connection, limit: int = 200) -> list[MailboxEntry]:
    """Messages delivered to the in-app mailbox, newest first."""
    rows = conn.execute(
        "SELECT MessageID, Kind, Recipient, Subject, SentAt FROM Outbox "
        "WHERE Transport = 'mailbox' ORDER BY SentAt DESC, MessageID DESC LIMIT ?",
        (limit,),
    )
    return [
        MailboxEntry(r["MessageID"], r["Kind"], r["Recipient"], r["Subject"], r["SentAt"])
        for r in rows
    ]


def mailbox_message(conn: sqlite3.Connection, message_id: int) -> OutboxMessage | None:
    row = conn.execute(
        "SELECT * FROM Outbox WHERE MessageID = ? AND Transport = 'mailbox'", (message_id,)
    ).fetchone()
    return None if row is None else _message_from_row(row)


@dataclass(frozen=True)
class FailedMessage:
    message_id: int
    kind: str
    recipient: str
    subject: str
    error: str
    created_at: str


def failed_messages(conn: sqlite3.Connection, limit: int = 100) -> list[FailedMessage]:
    """Messages the mail server refused for good, with its answer."""
    rows = conn.execute(
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
