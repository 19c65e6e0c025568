"""When the nightly run happens: APScheduler 3.x inside one process.

APScheduler's defaults would lose nights: a one-second misfire grace time
skips a run that starts a little late, and its in-memory store forgets a run
missed while the process was down. So the nightly job gets hours of grace and
coalescing, and at start a catch-up run is made when last night's is missing.
A second scheduler (or a manual run) is harmless: the run itself takes a lease
and the notices ledger makes queueing idempotent.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from webapp.jobs import housekeeping, privacy, reminders

from webapp.config import Settings
from webapp.db import Database
from webapp.leases import LeaseHeld
from webapp.models import deactivation, job_runs, scheduler_heartbeat
from webapp.reminder_stages import MISFIRE_GRACE, last_scheduled_run

log = logging.getLogger(__name__)

OUTBOX_SWEEP = timedelta(minutes=5)


def needs_catch_up(last_success: datetime | None, now: datetime, at: time, zone: ZoneInfo) -> bool:
    """Whether last night's run is missing: no success since it was due."""
    return last_success is None or last_success < last_scheduled_run(now, at, zone)


async def nightly(db: Database, settings: Settings, trigger: str = "nightly") -> None:
    try:
        report = await reminders.run_reminders(db, settings, trigger=trigger)
    except LeaseHeld as busy:
        log.info("nightly reminders skipped: %s", busy)
        return
    counts = report.counts
    log.log(
        logging.WARNING if report.error else logging.INFO,
        "reminder run (%s) for %s: %d overdue, %d queued, %d sent, %d pending, %d failed, "
        "%d cancelled%s",
        trigger,
        report.run_date,
        counts.flagged,
        counts.queued,
        counts.sent,
        counts.pending,
        counts.failed,
        report.cancelled,
        f"; {report.error}" if report.error else "",
    )


async def nightly_privacy(db: Database, settings: Settings) -> None:
    """Release the holds of closed accounts, and remove the borrower from loans older than
    the retention period (none when it is off)."""
    today = datetime.now(settings.zone).date()
    await db.write(
        deactivation.release_holds, actor_id=None, today=today, library_name=settings.library_name
    )
    await privacy.run_anonymisation(db, today)


async def sweep_outbox(db: Database, settings: Settings) -> None:
    """Send hold notices and due retries between nightly runs."""
    try:
        delivery = await reminders.send_pending(db, settings)
    except LeaseHeld:
        return
    # Quiet when there was nothing to send: the sweep runs every five minutes.
    if delivery.sent or delivery.failed or delivery.deferred:
        log.log(
            logging.WARNING if delivery.error or delivery.failed else logging.INFO,
            "outbox sweep: %d sent, %d failed, %d deferred, %d cancelled%s",
            delivery.sent,
            delivery.failed,
            delivery.deferred,
            delivery.cancelled,
            f"; {delivery.error}" if delivery.error else "",
        )


async def beat(db: Database) -> None:
    """Record that this scheduler is alive: `shelfmark healthcheck --scheduler` reads it."""
    await db.write(
        scheduler_heartbeat.record_beat, scheduler_heartbeat.this_process(), datetime.now(UTC)
    )


async def start(db: Database, settings: Settings, now: datetime | None = None) -> AsyncIOScheduler:
    """Start the scheduler on the running event loop; queue a catch-up run if one is due."""
    scheduler = AsyncIOScheduler(timezone=settings.zone)

    def every_night(job, at: time, job_id: str, args: tuple) -> None:
        # Each nightly job: a run missed while the process was down still happens within
        # the grace period, once, and never two at a time.
        scheduler.add_job(
            job,
            CronTrigger(hour=at.hour, minute=at.minute, timezone=settings.zone),
            args=args,
            id=job_id,
            misfire_grace_time=int(MISFIRE_GRACE.total_seconds()),
            coalesce=True,
            max_instances=1,
        )

    every_night(nightly, settings.reminder_time, "nightly-reminders", (db, settings))
    # Half an hour after the reminders, so a loan returned today is never both
    # reminded about and anonymised in the same minute; idempotent like them.
    anonymise_at = datetime.combine(date.today(), settings.reminder_time) + timedelta(minutes=30)
    every_night(nightly_privacy, anonymise_at.time(), "nightly-privacy", (db, settings))
    every_night(
        housekeeping.prune_login_failures, settings.reminder_time, "nightly-housekeeping", (db,)
    )
    every_night(
        housekeeping.discard_abandoned_imports,
        settings.reminder_time,
        "nightly-import-cleanup",
        (db,),
    )
    scheduler.add_job(
        sweep_outbox,
        IntervalTrigger(seconds=int(OUTBOX_SWEEP.total_seconds())),
        args=(db, settings),
        id="outbox-sweep",
        coalesce=True,
        max_instances=1,
    )
    # The first beat at once, so a health check passes as soon as the scheduler is up.
    scheduler.add_job(
        beat,
        IntervalTrigger(seconds=int(scheduler_heartbeat.BEAT_EVERY.total_seconds())),
        args=(db,),
        id="heartbeat",
        next_run_time=datetime.now(UTC),
        coalesce=True,
        max_instances=1,
    )
    now = now or datetime.now(UTC)
    if needs_catch_up(
        await job_runs.last_success_at(db), now, settings.reminder_time, settings.zone
    ):
        log.info("last night's reminder run is missing: catching up now")
        scheduler.add_job(nightly, args=(db, settings, "catch-up"), id="catch-up-reminders")
    scheduler.start()
    return scheduler
