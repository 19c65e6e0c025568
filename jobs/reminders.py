"""The nightly run: flag overdue loans, queue reminders, deliver the outbox, exactly once.

One run, under the ``mail`` lease (a row in JobLeases, so only one process in
the world runs it at a time):

1. Expire hold pickups, so the next
   patron's hold-ready email is queued before delivery.
2. Queue, set-based in one transaction on the writer (``db.write``): every open
   loan due by ``today - min(stage)`` goes, with the latest stage the ledger
   (Notices) holds for its current due date, through
   ``reminder_stages.stage_for`` (called from the SQL); the Notices rows and one
   Outbox row per patron are written by INSERT … SELECT, so a notice is in the
   ledger exactly when its email is in the outbox. The ledger key (LoanID,
   Stage, DueDate) is UNIQUE: a stage is queued once per due date, and a
   renewal (new due date) re-arms the stages. Patrons without an address get
   ledger rows with no message: the "notify by hand" list.
3. Deliver every pending message (reminders and hold-ready notices alike). A
   reminder is queued without its subject and bodies: they are rendered from
   its ledger rows (the items still open at the same due date, at the stage
   and date of the run that queued them) in the same transaction that marks
   it ``sending`` -- or, for the in-app mailbox, ``sent`` -- and written to its
   row, so the outbox keeps exactly what went out. Rendering at queue time made
   a night after a long closure spend seconds rendering before a first email
   could leave; now that cost is spread over the sending.

Exactly once, and the window we cannot close
--------------------------------------------
For each message over SMTP: (a) in one transaction, render it from its loans
still open at the same due date (an item returned or renewed since queueing is
left out; with none left the message is cancelled) and mark it ``sending``,
committed BEFORE any byte of the
message goes out; (b) MAIL/RCPT/DATA on the run's one connection; (c) only when
the server has answered 250 to DATA, commit ``sent``. A 4xx, a timeout or a
lost connection commits ``pending`` with a backoff; a 5xx commits ``failed``
with the server's answer.

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
duplicates. We accept that rare duplicate rather
than the alternative (treating ``sending`` as sent), which would silently lose
every message whose transfer was cut off -- the worse failure for a library.

The lease is renewed before every message; a run that stalls past its expiry
(five minutes, far beyond the SMTP timeouts) finds it gone and stops.

Without ``SHELFMARK_SMTP_HOST`` delivery is the in-app mailbox: marking a batch
``sent`` with transport ``mailbox`` IS the delivery, one transaction, no window.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from webapp import reminder_stages
from webapp.config import Settings
from webapp.db import Database
from webapp.mail import (
    OutcomeKind,
    OutgoingMessage,
    Transport,
    header_safe,
    sender_domain,
    transport_for,
)
from webapp.models import holds, job_runs, reminders
from webapp.models.job_runs import RunCounts, utc_stamp
from webapp.resources import TEMPLATES

log = logging.getLogger(__name__)

JOB = "reminders"
LEASE = "mail"
LEASE_TTL = timedelta(minutes=5)
RENEW_EVERY = timedelta(minutes=1)
# Messages rendered and marked sent per mailbox transaction. Rendering is
# Python in the writer's thread, competing for the GIL with the event loop, so
# batches stay small (about 30 ms of work each on the benchmark machine) and
# the loop runs between them: p99 lag under 13 ms in bench.reminders --full.
MAILBOX_BATCH = 50
FIRST_RETRY = timedelta(minutes=5)
LONGEST_RETRY = timedelta(hours=6)
CANCELLED_REASON = "every item was returned or renewed before the reminder went out"

_email_templates = Environment(
    loader=FileSystemLoader(str(TEMPLATES / "email")),
    autoescape=select_autoescape(["html"], default_for_string=False, default=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    # Compiled once per process: thousands of emails a night must not each stat the files.
    auto_reload=False,
)


@lru_cache(maxsize=1)
def _reminder_templates() -> tuple[Template, Template]:
    return (
        _email_templates.get_template("reminder.txt"),
        _email_templates.get_template("reminder.html"),
    )


class LeaseHeld(Exception):
    """Another process is running the job; nothing was done."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"another run holds the lease ({holder})")
        self.holder = holder


def retry_delay(attempts: int) -> timedelta:
    """Backoff before the next try: 5 min, 10, 20 … capped at 6 hours."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_RETRY)


@dataclass(frozen=True)
class EmailItem:
    title: str
    barcode: str
    due: date
    days_overdue: int


@dataclass(frozen=True)
class EmailSection:
    heading: str
    items: tuple[EmailItem, ...]


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def reminder_subject(library_name: str, overdue: int, due_soon: int) -> str:
    """E.g. "Riverside Library: 2 overdue items and 1 item due back soon"."""
    parts = []
    if overdue:
        parts.append(f"{overdue} overdue item{'s' if overdue != 1 else ''}")
    if due_soon:
        parts.append(f"{due_soon} item{'s' if due_soon != 1 else ''} due back soon")
    return header_safe(f"{library_name}: {' and '.join(parts)}")


def render_reminder(
    library_name: str, patron_name: str, items: Iterable[tuple[int, str, str, date]], as_of: date
) -> RenderedEmail:
    """The reminder for one patron. ``items`` are (stage, title, barcode, due date)."""
    by_stage: dict[int, list[EmailItem]] = defaultdict(list)
    for stage, title, barcode, due in items:
        by_stage[stage].append(
            EmailItem(title, barcode, due, reminder_stages.days_overdue(due, as_of))
        )
    sections = [
        EmailSection(reminder_stages.stage_heading(stage), tuple(by_stage[stage]))
        for stage in sorted(by_stage, reverse=True)
    ]
    subject = reminder_subject(
        library_name,
        sum(len(by_stage[s]) for s in by_stage if s > 0),
        sum(len(by_stage[s]) for s in by_stage if s < 0),
    )
    context = dict(
        library_name=library_name, patron_name=patron_name, sections=sections, subject=subject
    )
    text, html = _reminder_templates()
    return RenderedEmail(subject, text.render(context), html.render(context))


@dataclass
class Delivery:
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred: int = 0
    error: str | None = None


class LostLease(Exception):
    """Our lease was taken over (we stalled past its expiry): stop sending at once."""


async def deliver_outbox(
    db: Database,
    settings: Settings,
    transport: Transport,
    *,
    respect_backoff: bool,
    keep_lease: Callable[[], Awaitable[None]],
    clock: Callable[[], datetime],
) -> Delivery:
    """Send what the outbox holds, each message at most once per attempt (see module doc)."""
    delivery = Delivery()
    due = await reminders.deliverable_ids(db, utc_stamp(clock()) if respect_backoff else None)
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
                    _deliver_to_mailbox,
                    settings,
                    due[start : start + MAILBOX_BATCH],
                    utc_stamp(clock()),
                )
                delivery.sent += sent
                delivery.cancelled += cancelled
            return delivery
        for index, message_id in enumerate(due):
            await keep_lease()
            prepared = await db.write(_prepare, settings, message_id, utc_stamp(clock()))
            if prepared.cancelled:
                delivery.cancelled += 1
            if prepared.outgoing is None:
                continue
            outcome = await transport.deliver(prepared.outgoing)
            now = clock()
            await db.write(
                _record_outcome,
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
        await db.write(reminders.defer, message_ids, error, utc_stamp(now + retry_delay(1)))


def _content(settings: Settings, unsent: reminders.Unsent) -> RenderedEmail | None:
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
    return render_reminder(
        settings.library_name,
        unsent.patron_name,
        ((i.stage, i.title, i.barcode, i.due) for i in live),
        live[0].run_date,
    )


@dataclass(frozen=True)
class Prepared:
    """A message marked 'sending' and what goes out, or nothing to send (and whether cancelled)."""

    outgoing: OutgoingMessage | None
    attempts: int = 0
    cancelled: bool = False


def _prepare(conn: sqlite3.Connection, settings: Settings, message_id: int, now: str) -> Prepared:
    """Render and mark 'sending', one transaction committed before the server sees a byte."""
    found = reminders.unsent_messages(conn, [message_id])
    if not found:
        return Prepared(None)
    unsent = found[0]
    message = unsent.message
    rendered = _content(settings, unsent)
    if rendered is None:
        reminders.mark_cancelled(conn, message_id, CANCELLED_REASON)
        return Prepared(None, cancelled=True)
    if message.kind == "reminder":
        reminders.write_content(conn, message_id, rendered.subject, rendered.text, rendered.html)
    reminders.mark_sending(conn, message_id, now, message.status == "sending")
    outgoing = OutgoingMessage(
        header_safe(message.recipient),
        rendered.subject,
        rendered.text,
        rendered.html,
        message.header_message_id,
    )
    return Prepared(outgoing, message.attempts + 1)


def _record_outcome(
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
        reminders.mark_sent(conn, message_id, transport, now)
    elif kind == "permanent":
        reminders.mark_failed(conn, message_id, detail)
    else:
        reminders.mark_retry(conn, message_id, detail, retry_at)


def _deliver_to_mailbox(
    conn: sqlite3.Connection, settings: Settings, message_ids: list[int], now: str
) -> tuple[int, int]:
    """Render and deliver a batch in one transaction: the commit is the delivery.

    Returns how many were sent and how many cancelled.
    """
    cancelled = 0
    for unsent in reminders.unsent_messages(conn, message_ids):
        message = unsent.message
        if message.kind != "reminder":
            continue
        rendered = _content(settings, unsent)
        if rendered is None:
            reminders.mark_cancelled(conn, message.message_id, CANCELLED_REASON)
            cancelled += 1
        else:
            reminders.write_content(
                conn, message.message_id, rendered.subject, rendered.text, rendered.html
            )
    return reminders.mark_all_sent(conn, message_ids, "mailbox", now), cancelled


async def queue(db: Database, settings: Settings, today: date, now: datetime) -> reminders.Queued:
    """Flag and queue tonight's notices: one transaction of set-based SQL in the writer's thread."""
    return await db.write(
        reminders.queue_tonight,
        await reminders.reminder_stages(db),
        today,
        utc_stamp(now),
        secrets.token_hex(8),
        sender_domain(settings.mail_from),
    )


@dataclass(frozen=True)
class RunReport:
    run_date: date
    counts: RunCounts
    cancelled: int
    error: str | None


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class _Lease:
    """Our hold on the mail lease, renewed as the run goes on."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock
        self.holder = job_runs.new_holder()
        self._renewed_at = clock()

    async def acquire(self) -> None:
        holder = await job_runs.acquire_lease(
            self._db, LEASE, self.holder, LEASE_TTL, self._clock()
        )
        if holder is not None:
            raise LeaseHeld(holder)
        self._renewed_at = self._clock()

    async def keep(self) -> None:
        now = self._clock()
        if now - self._renewed_at < RENEW_EVERY:
            return
        if not await job_runs.renew_lease(self._db, LEASE, self.holder, LEASE_TTL, now):
            raise LostLease("the mail lease was taken over by another run")
        self._renewed_at = now

    async def release(self) -> None:
        await job_runs.release_lease(self._db, LEASE, self.holder)


async def run_reminders(
    db: Database,
    settings: Settings,
    *,
    today: date | None = None,
    trigger: str = "manual",
    transport: Transport | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> RunReport:
    """One full run for ``today`` (by default the library's date now). Raises LeaseHeld if busy."""
    today = today or clock().astimezone(settings.zone).date()
    lease = _Lease(db, clock)
    await lease.acquire()
    try:
        run_id = await job_runs.start_run(db, JOB, trigger, today, clock())
        counts = RunCounts()
        try:
            await db.write(holds.expire_ready_holds, today, library_name=settings.library_name)
            queued = await queue(db, settings, today, clock())
            delivery = await deliver_outbox(
                db,
                settings,
                transport or transport_for(settings),
                respect_backoff=False,
                keep_lease=lease.keep,
                clock=clock,
            )
            counts = RunCounts(
                flagged=queued.flagged,
                queued=queued.emails + queued.by_hand_patrons,
                sent=delivery.sent,
                pending=await reminders.count_pending(db),
                failed=delivery.failed,
            )
        except Exception as error:
            log.exception("the reminder run for %s failed", today)
            await job_runs.finish_run(
                db, run_id, counts, clock(), f"{type(error).__name__}: {error}"
            )
            raise
        error = None
        if delivery.error:
            error = f"mail server unavailable, {counts.pending} message(s) left pending: {delivery.error}"
        await job_runs.finish_run(db, run_id, counts, clock(), error)
        return RunReport(today, counts, delivery.cancelled, error)
    finally:
        await lease.release()


async def send_pending(
    db: Database,
    settings: Settings,
    *,
    transport: Transport | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Delivery:
    """Deliver messages whose backoff has passed (the scheduler's frequent outbox sweep)."""
    lease = _Lease(db, clock)
    await lease.acquire()
    try:
        return await deliver_outbox(
            db,
            settings,
            transport or transport_for(settings),
            respect_backoff=True,
            keep_lease=lease.keep,
            clock=clock,
        )
    finally:
        await lease.release()


@dataclass(frozen=True)
class PreviewEmail:
    recipient: str
    subject: str
    items: int


@dataclass(frozen=True)
class Preview:
    """A dry run: what a run for ``plan.today`` would queue, and what waits in the outbox."""

    plan: reminders.Plan
    # The first emails of the plan, with their subjects, to list.
    emails: list[PreviewEmail]
    pending: int


async def preview(db: Database, settings: Settings, today: date, listed: int) -> Preview:
    """What the run would queue, by its own query, nothing written; subjects for ``listed`` emails.

    Only the listed emails get a subject: after a long closure the plan holds
    tens of thousands, and the loop would stall formatting them all.
    """
    plan = await db.read(reminders.plan_tonight, await reminders.reminder_stages(db), today)
    emails = [
        PreviewEmail(
            header_safe(email.recipient),
            reminder_subject(settings.library_name, email.overdue, email.due_soon),
            email.items,
        )
        for email in plan.emails[:listed]
    ]
    return Preview(plan, emails, await reminders.count_pending(db))
