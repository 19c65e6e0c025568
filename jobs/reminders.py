"""The nightly run and the outbox sweep: orchestration only, each under the ``mail`` lease.

The nightly run (``run_reminders``), with a row in JobRuns for its history:

1. Expire hold pickups, so the next patron's hold-ready email is queued
   before delivery.
2. Queue, set-based in one transaction on the writer (``db.write``): every open
   loan due by ``today - min(stage)`` goes, with the latest stage the ledger
   (Notices) holds for its current due date, through
   ``reminder_stages.stage_for`` (called from the SQL); the Notices rows and one
   Outbox row per patron are written by INSERT … SELECT, so a notice is in the
   ledger exactly when its email is in the outbox
   (``webapp.models.reminders.queue_tonight``). The ledger key (LoanID, Stage,
   DueDate) is UNIQUE: a stage is queued once per due date, and a renewal (new
   due date) re-arms the stages. Patrons without an address get ledger rows
   with no message: the "notify by hand" list.
3. Deliver every pending message, reminders and hold-ready notices alike
   (``webapp.outbox.deliver``: reminders are rendered just before they go, and
   the module explains how each goes out exactly once).

The sweep (``send_pending``) is step 3 alone, for messages whose retry time
has come: the scheduler runs it every few minutes.

The lease (``webapp.leases``) keeps a second scheduler, a manual run and the
nightly run from ever sending at once.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from webapp import outbox
from webapp.clock import utc_now, utc_stamp
from webapp.config import Settings
from webapp.db import Database
from webapp.leases import Lease
from webapp.mail import Transport, sender_domain, transport_for
from webapp.models import holds, job_runs, reminders
from webapp.models.job_runs import RunCounts

log = logging.getLogger(__name__)

JOB = "reminders"
LEASE = "mail"


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


async def run_reminders(
    db: Database,
    settings: Settings,
    *,
    today: date | None = None,
    trigger: str = "manual",
    transport: Transport | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> RunReport:
    """One full run for ``today`` (by default the library's date now).

    Raises ``leases.LeaseHeld`` when another run holds the lease.
    """
    today = today or clock().astimezone(settings.zone).date()
    lease = Lease(db, LEASE, clock)
    await lease.acquire()
    try:
        run_id = await job_runs.start_run(db, JOB, trigger, today, clock())
        counts = RunCounts()
        try:
            await db.write(holds.expire_ready_holds, today, library_name=settings.library_name)
            queued = await queue(db, settings, today, clock())
            delivery = await outbox.deliver(
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
                pending=await db.read(outbox.count_pending),
                failed=delivery.failed,
            )
        except Exception as failure:
            log.exception("the reminder run for %s failed", today)
            await job_runs.finish_run(
                db, run_id, counts, clock(), f"{type(failure).__name__}: {failure}"
            )
            raise
        error = None
        if delivery.error:
            error = (
                f"mail server unavailable, {counts.pending} message(s) left pending: "
                f"{delivery.error}"
            )
        elif delivery.all_deferred:
            # Recorded as a failure (the dashboard, /metrics and /healthz say so), not
            # as a success with nothing sent; the sweep retries each message with backoff.
            error = (
                f"the mail server deferred every message ({delivery.deferred}); "
                f"{counts.pending} left pending, retried with backoff: {delivery.last_deferral}"
            )
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
) -> outbox.Delivery:
    """Deliver messages whose backoff has passed (the scheduler's frequent outbox sweep)."""
    lease = Lease(db, LEASE, clock)
    await lease.acquire()
    try:
        return await outbox.deliver(
            db,
            settings,
            transport or transport_for(settings),
            respect_backoff=True,
            keep_lease=lease.keep,
            clock=clock,
        )
    finally:
        await lease.release()
