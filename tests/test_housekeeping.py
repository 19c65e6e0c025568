"""The nightly housekeeping steps: failed sign-ins older than a day are removed, and the
invisible rows of an import whose process died mid-publication."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from webapp.jobs import housekeeping, scheduler

from webapp.clock import utc_stamp
from webapp.db import connect_sync
from webapp.importing import books as book_import
from webapp.importing import staging
from webapp.leases import new_holder

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


def dead_holder() -> str:
    """A lease holder name of a process of this host that has exited."""
    pid = subprocess.Popen([sys.executable, "-c", "pass"])
    pid.wait()
    return f"{socket.gethostname()}:{pid.pid}:-:dead"


def half_published(database_path, holder: str, name: str) -> int:
    """A run whose publication stopped after its first chunk, held by ``holder``."""
    conn = connect_sync(database_path)
    try:
        _, rows = book_import.read_books_csv(
            "title,author,barcodes\n"
            + "".join(f"Orphan {name} {n},Nobody,{name}-{n}\n" for n in range(30))
        )
        import_id, _ = staging.run_sync(
            conn, book_import.stage_steps(rows, source=f"test:{new_holder()}", mapping="{}")
        )

        def first_chunk() -> staging.Steps:
            yield staging.Step(staging.begin_publication, (import_id, holder))
            yield staging.Step(staging.publish_some, (import_id, 10))

        staging.run_sync(conn, first_chunk())
        return import_id
    finally:
        conn.close()


async def test_an_import_that_died_mid_publication_is_removed_with_its_invisible_rows(
    db, database_path
):
    # Another import, still being published (its process is alive), and then one whose
    # process died (made second: every import removes dead runs as it starts).
    alive = half_published(database_path, new_holder(), "ALIVE")
    half_published(database_path, dead_holder(), "DEAD")
    hidden = "SELECT count(*) FROM Books WHERE Title GLOB 'Orphan *'"
    assert await db.fetch_value(hidden) == 2 * 11
    assert await db.fetch_value("SELECT count(*) FROM Copies WHERE Barcode GLOB 'DEAD-*'") == 11

    assert await housekeeping.discard_abandoned_imports(db) == 1
    assert await db.fetch_value(hidden) == 11
    assert await db.fetch_value("SELECT count(*) FROM Copies WHERE Barcode GLOB 'DEAD-*'") == 0
    assert await db.fetch_value("SELECT ImportID FROM ImportRuns") == alive
    assert await housekeeping.discard_abandoned_imports(db) == 0


async def test_the_scheduler_removes_abandoned_imports_every_night(db, database_path):
    settings = make_settings(database_path)
    running = await scheduler.start(db, settings)
    try:
        job = running.get_job("nightly-import-cleanup")
    finally:
        running.shutdown(wait=False)
    assert job.func is housekeeping.discard_abandoned_imports
    assert isinstance(job.trigger, CronTrigger) and job.coalesce
