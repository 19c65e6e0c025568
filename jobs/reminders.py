"""The nightly run: flag overdue loans, queue reminders, deliver the outbox, exactly once.

One run, under the ``mail`` lease (a row in JobLeases, so only one process in
the world runs it at a time):

1. Expire hold pickups, so the next
   patron's hold-ready email is queued before delivery.
2. Plan: every open loan due by ``today - min(stage)``, with the stages the
   ledger (Notices) already holds for its current due date, goes through
   ``reminder_stages.stage_to_send``. One email per patron lists every item at
   every stage reached tonight. Patrons without an address get ledger rows
   with no message: the "notify by hand" list.
3. Queue: the Outbox rows and their Notices are written in ONE transaction, so
   a notice is in the ledger exactly when its email is in the outbox. The
   ledger key (LoanID, Stage, DueDate) is UNIQUE: a stage is queued once per
   due date, and a renewal (new due date) re-arms the stages.
4. Deliver every pending message (reminders and hold-ready notices alike).

Exactly once, and the window we cannot close
--------------------------------------------
For each message over SMTP: (a) in one transaction, re-check its loans (an item
returned or renewed since queueing is dropped from the body; with none left the
message is cancelled) and mark it ``sending``, committed BEFORE any byte of the
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

import asyncio
import logging
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from webapp import reminder_stages
from webapp.config import Settings
from webapp.db import Database
from webapp.mail import OutgoingMessage, Transport, header_safe, sender_domain, transport_for
from webapp.models import circulation, job_runs, reminders
from webapp.models.job_runs import RunCounts, utc_stamp
from webapp.resources import TEMPLATES

log = logging.getLogger(__name__)

JOB = "reminders"
LEASE = "mail"
LEASE_TTL = timedelta(minutes=5)
RENEW_EVERY = timedelta(minutes=1)
MAILBOX_BATCH = 500
FIRST_RETRY = timedelta(minutes=5)
LONGEST_RETRY = timedelta(hours=6)

_email_templates = Environment(
    loader=FileSystemLoader(str(TEMPLATES / "email")),
    autoescape=select_autoescape(["html"], default_for_string=False, default=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
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


def render_reminder(
    library_name: str,
    patron_name: str,
    items: Iterable[tuple[int, str, str, date]],
    as_of: date,
    with_bodies: bool = True,
) -> RenderedEmail:
    """The reminder for one patron. ``items`` are (stage, title, barcode, due date).

    ``with_bodies=False`` gives the subject alone, for previews of thousands of emails.
    """
    by_stage: dict[int, list[EmailItem]] = defaultdict(list)
    for stage, title, barcode, due in items:
        by_stage[stage].append(
            EmailItem(title, barcode, due, reminder_stages.days_overdue(due, as_of))
        )
    sections = [
        EmailSection(reminder_stages.stage_heading(stage), tuple(by_stage[stage]))
        for stage in sorted(by_stage, reverse=True)
    ]
    overdue = sum(len(by_stage[s]) for s in by_stage if s > 0)
    soon = sum(len(by_stage[s]) for s in by_stage if s < 0)
    parts = []
    if overdue:
        parts.append(f"{overdue} overdue item{'s' if overdue != 1 else ''}")
    if soon:
        parts.append(f"{soon} item{'s' if soon != 1 else ''} due back soon")
    subject = header_safe(f"{library_name}: {' and '.join(parts)}")
    if not with_bodies:
        return RenderedEmail(subject, "", "")
    context = dict(
        library_name=library_name, patron_name=patron_name, sections=sections, subject=subject
    )
    return RenderedEmail(
        subject,
        _email_templates.get_template("reminder.txt").render(context),
        _email_templates.get_template("reminder.html").render(context),
    )


@dataclass
class Plan:
    """What a run for ``today`` queues: nothing is written while planning."""

    today: date
    flagged: int = 0
    emails: list[reminders.QueuedEmail] = field(default_factory=list)
    by_hand: list[reminders.HandNotice] = field(default_factory=list)

    @property
    def notice_count(self) -> int:
        return sum(len(e.notices) for e in self.emails) + len(self.by_hand)


def build_plan(
    settings: Settings,
    stages: tuple[int, ...],
    loans: list[reminders.OpenLoan],
    today: date,
    with_bodies: bool = True,
) -> Plan:
    """Decide tonight's notices and render the emails (CPU work: call it in a thread)."""
    plan = Plan(today)
    domain = sender_domain(settings.mail_from)
    by_patron: dict[int, list[tuple[reminders.OpenLoan, int]]] = defaultdict(list)
    for loan in loans:
        if reminder_stages.is_overdue(loan.due, today):
            plan.flagged += 1
        stage = reminder_stages.stage_to_send(stages, loan.due, today, loan.sent_stages)
        if stage is not None:
            by_patron[loan.user_id].append((loan, stage))
    for user_id, due_now in by_patron.items():
        patron = due_now[0][0]
        if not patron.email:
            plan.by_hand.extend(
                reminders.HandNotice(user_id, loan.loan_id, stage, loan.due) for loan, stage in due_now
            )
            continue
        rendered = render_reminder(
            settings.library_name, patron.patron_name,
            ((stage, loan.title, loan.barcode, loan.due) for loan, stage in due_now), today,
            with_bodies,
        )
        plan.emails.append(
            reminders.QueuedEmail(
                user_id=user_id,
                recipient=header_safe(patron.email),
                subject=rendered.subject,
                body_text=rendered.text,
                body_html=rendered.html,
                header_message_id=f"<{secrets.token_hex(10)}.r{user_id}@{domain}>",
                notices=tuple((loan.loan_id, stage, loan.due) for loan, stage in due_now),
            )
        )
    return plan


async def plan_reminders(
    db: Database, settings: Settings, today: date, with_bodies: bool = True
) -> Plan:
    stages = await reminders.reminder_stages(db)
    loans = await reminders.open_loans_due_by(
        db, reminder_stages.earliest_due_date_with_a_stage(stages, today)
    )
    return await asyncio.to_thread(build_plan, settings, stages, loans, today, with_bodies)


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
                await _deliver_to_mailbox(db, settings, due[start:start + MAILBOX_BATCH], delivery, clock())
            return delivery
        for index, message_id in enumerate(due):
            await keep_lease()
            prepared = await _prepare(db, settings, message_id, clock(), delivery)
            if prepared is None:
                continue
            outgoing, attempts = prepared
            outcome = await transport.deliver(outgoing)
            async with db.transaction() as tx:
                if outcome.kind == "accepted":
                    await reminders.mark_sent(tx, message_id, transport.name, utc_stamp(clock()))
                    delivery.sent += 1
                elif outcome.kind == "permanent":
                    await reminders.mark_failed(tx, message_id, outcome.detail)
                    delivery.failed += 1
                else:
                    await reminders.mark_retry(
                        tx, message_id, outcome.detail, utc_stamp(clock() + retry_delay(attempts))
                    )
                    delivery.deferred += 1
            if outcome.connection_lost:
                rest = due[index + 1:]
                await _defer_all(db, rest, outcome.detail, clock())
                delivery.deferred += len(rest)
                delivery.error = outcome.detail
                break
    finally:
        await transport.close()
    return delivery


async def _defer_all(db: Database, message_ids: list[int], error: str, now: datetime) -> None:
    """Leave messages pending after the server could not be used, retrying after a backoff."""
    if not message_ids:
        return
    async with db.transaction() as tx:
        await reminders.defer(tx, message_ids, error, utc_stamp(now + retry_delay(1)))


async def _recheck(tx, settings: Settings, message: reminders.OutboxMessage) -> str | None:
    """Drop items returned or renewed since queueing; the reason to cancel, if none is left."""
    if message.kind != "reminder":
        return None
    items = await reminders.carried_items(tx, message.message_id)
    live = [item for item in items if item.live]
    if not live:
        return "every item was returned or renewed before the reminder went out"
    if len(live) != len(items):
        patron = await reminders.patron_name(tx, message.user_id)
        rendered = render_reminder(
            settings.library_name, patron,
            ((i.stage, i.title, i.barcode, i.due) for i in live), live[0].run_date,
        )
        await reminders.rewrite_body(
            tx, message.message_id, rendered.subject, rendered.text, rendered.html
        )
    return None


async def _prepare(
    db: Database, settings: Settings, message_id: int, now: datetime, delivery: Delivery
) -> tuple[OutgoingMessage, int] | None:
    """Re-check and mark 'sending', committed before the message is handed to the server.

    Returns the message as it will go out and its attempt number.
    """
    async with db.transaction() as tx:
        message = await reminders.message_in(tx, message_id)
        if message is None or message.status not in ("pending", "sending"):
            return None
        cancel_reason = await _recheck(tx, settings, message)
        if cancel_reason is not None:
            await reminders.mark_cancelled(tx, message_id, cancel_reason)
            delivery.cancelled += 1
            return None
        await reminders.mark_sending(tx, message_id, utc_stamp(now), message.status == "sending")
        message = await reminders.message_in(tx, message_id)
    outgoing = OutgoingMessage(
        message.recipient, message.subject, message.body_text, message.body_html,
        message.header_message_id,
    )
    return outgoing, message.attempts


async def _deliver_to_mailbox(
    db: Database, settings: Settings, message_ids: list[int], delivery: Delivery, now: datetime
) -> None:
    """Re-check and deliver a batch in one transaction: the commit is the delivery."""
    async with db.transaction() as tx:
        for message_id in await reminders.with_items_gone(tx, message_ids):
            message = await reminders.message_in(tx, message_id)
            cancel_reason = await _recheck(tx, settings, message)
            if cancel_reason is not None:
                await reminders.mark_cancelled(tx, message_id, cancel_reason)
                delivery.cancelled += 1
        delivery.sent += await reminders.mark_all_sent(tx, message_ids, "mailbox", utc_stamp(now))


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
        holder = await job_runs.acquire_lease(self._db, LEASE, self.holder, LEASE_TTL, self._clock())
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
            await circulation.expire_ready_holds(db, today, library_name=settings.library_name)
            plan = await plan_reminders(db, settings, today)
            await reminders.queue_notices(db, plan.emails, plan.by_hand, today)
            delivery = await deliver_outbox(
                db, settings, transport or transport_for(settings),
                respect_backoff=False, keep_lease=lease.keep, clock=clock,
            )
            counts = RunCounts(
                flagged=plan.flagged,
                queued=len(plan.emails) + len({n.user_id for n in plan.by_hand}),
                sent=delivery.sent,
                pending=await reminders.count_pending(db),
                failed=delivery.failed,
            )
        except Exception as error:
            log.exception("the reminder run for %s failed", today)
            await job_runs.finish_run(db, run_id, counts, clock(), f"{type(error).__name__}: {error}")
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
            db, settings, transport or transport_for(settings),
            respect_backoff=True, keep_lease=lease.keep, clock=clock,
        )
    finally:
        await lease.release()


@dataclass(frozen=True)
class Preview:
    """A dry run: what a run for ``plan.today`` would queue, and what waits in the outbox."""

    plan: Plan
    pending: int


async def preview(db: Database, settings: Settings, today: date) -> Preview:
    """Plan without rendering bodies: the preview lists recipients and subjects."""
    plan = await plan_reminders(db, settings, today, with_bodies=False)
    return Preview(plan, await reminders.count_pending(db))
