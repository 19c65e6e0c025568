"""The job lease against a real SQLite file: who counts as a live holder."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta

import pytest
from webapp.jobs import reminders

from webapp import leases
from webapp.clock import utc_stamp
from webapp.models import job_runs

from .conftest import make_settings

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


async def leave_lease(db, holder: str) -> None:
    """A lease row as a holder that crashed a moment ago leaves it: minutes from expiry."""
    await db.execute(
        "INSERT INTO JobLeases (Name, Holder, ExpiresAt) VALUES (?, ?, ?)",
        (reminders.LEASE, holder, utc_stamp(NOW + timedelta(minutes=4))),
    )


@pytest.mark.skipif(leases.process_started(os.getpid()) is None, reason="needs Linux's /proc")
async def test_catch_up_run_takes_over_the_lease_of_a_dead_holder_whose_pid_is_alive_again(
    db, database_path
):
    # A container crashed during the nightly run and restarted: its server is PID 1 again,
    # as it was before, so the dead holder's PID is alive (here: ours), but it is another
    # process, which started at another time.
    boot, _, _ = leases.process_started(os.getpid()).partition(".")
    await leave_lease(db, f"{socket.gethostname()}:{os.getpid()}:{boot}.1:deadbeef")

    report = await reminders.run_reminders(
        db, make_settings(database_path), trigger="catch-up", clock=lambda: NOW
    )

    assert report.error is None
    runs = await job_runs.recent_runs(db)
    assert [(run.trigger, run.status) for run in runs] == [("catch-up", "succeeded")]


async def test_a_live_holder_in_this_process_keeps_the_lease(db, database_path):
    await leave_lease(db, leases.new_holder())

    with pytest.raises(leases.LeaseHeld):
        await reminders.run_reminders(
            db, make_settings(database_path), trigger="catch-up", clock=lambda: NOW
        )
    assert await job_runs.recent_runs(db) == []
