"""The nightly housekeeping step: failed sign-ins older than a day are removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from webapp.jobs import housekeeping, scheduler

from webapp.clock import utc_stamp

from .conftest import make_settings

NOW = datetime(2026, 12, 2, 3, 0, 0, tzinfo=UTC)


async def test_failed_sign_ins_older_than_a_day_are_pruned_and_recent_ones_kept(db):
    async with db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO LoginFailures (Email, Address, At) VALUES (?, '10.0.0.1', ?)",
            [
                ("old@example.com", utc_stamp(NOW - timedelta(days=3))),
                ("yesterday@example.com", utc_stamp(NOW - timedelta(hours=25))),
                ("recent@example.com", utc_stamp(NOW - timedelta(hours=2))),
                ("now@example.com", utc_stamp(NOW)),
            ],
        )
    assert await housekeeping.prune_login_failures(db, NOW) == 2
    kept = await db.fetch_all("SELECT Email FROM LoginFailures ORDER BY Email")
    assert [row["Email"] for row in kept] == ["now@example.com", "recent@example.com"]
    assert await housekeeping.prune_login_failures(db, NOW) == 0


async def test_the_scheduler_prunes_every_night_at_the_reminder_time(db, database_path):
    settings = make_settings(database_path)
    running = await scheduler.start(db, settings)
    try:
        job = running.get_job("nightly-housekeeping")
    finally:
        running.shutdown(wait=False)
    assert job.func is housekeeping.prune_login_failures
    assert isinstance(job.trigger, CronTrigger)
    fields = {field.name: str(field) for field in job.trigger.fields}
    assert fields["hour"] == str(settings.reminder_time.hour)
    assert fields["minute"] == str(settings.reminder_time.minute)
    assert job.misfire_grace_time >= 3600 and job.coalesce
