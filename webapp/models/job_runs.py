"""Job run history: when each run started and finished, what it did, and whether to worry.

The lease that lets one run work at a time is ``webapp.leases``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from webapp.clock import parse_stamp, utc_stamp
from webapp.db import Database

STALE_AFTER = timedelta(hours=26)


async def start_run(db: Database, job: str, trigger: str, run_date: date, now: datetime) -> int:
    """Record a run as started. Runs left 'running' by a killed process are closed as failed."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE JobRuns SET Status = 'failed', FinishedAt = ?, "
            "Error = 'interrupted: the process stopped before the run finished' "
            "WHERE Job = ? AND Status = 'running'",
            (utc_stamp(now), job),
        )
        return await tx.insert(
            "INSERT INTO JobRuns (Job, Trigger, RunDate, StartedAt) VALUES (?, ?, ?, ?)",
            (job, trigger, run_date.isoformat(), utc_stamp(now)),
        )


@dataclass(frozen=True)
class RunCounts:
    flagged: int = 0
    queued: int = 0
    sent: int = 0
    pending: int = 0
    failed: int = 0


async def finish_run(
    db: Database, run_id: int, counts: RunCounts, now: datetime, error: str | None = None
) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE JobRuns SET FinishedAt = ?, Status = ?, Flagged = ?, Queued = ?, Sent = ?, "
            "Pending = ?, Failed = ?, Error = ? WHERE RunID = ?",
            (
                utc_stamp(now),
                "failed" if error else "succeeded",
                counts.flagged,
                counts.queued,
                counts.sent,
                counts.pending,
                counts.failed,
                error,
                run_id,
            ),
        )


@dataclass(frozen=True)
class JobRun:
    run_id: int
    trigger: str
    run_date: str
    started_at: str
    finished_at: str | None
    status: str
    counts: RunCounts
    error: str | None


def _run_from_row(row) -> JobRun:
    return JobRun(
        run_id=row["RunID"],
        trigger=row["Trigger"],
        run_date=row["RunDate"],
        started_at=row["StartedAt"],
        finished_at=row["FinishedAt"],
        status=row["Status"],
        counts=RunCounts(row["Flagged"], row["Queued"], row["Sent"], row["Pending"], row["Failed"]),
        error=row["Error"],
    )


async def recent_runs(db: Database, job: str = "reminders", limit: int = 10) -> list[JobRun]:
    rows = await db.fetch_all(
        "SELECT * FROM JobRuns WHERE Job = ? ORDER BY RunID DESC LIMIT ?", (job, limit)
    )
    return [_run_from_row(row) for row in rows]


async def last_success_at(db: Database, job: str = "reminders") -> datetime | None:
    value = await db.fetch_value(
        "SELECT max(StartedAt) FROM JobRuns WHERE Job = ? AND Status = 'succeeded'", (job,)
    )
    return None if value is None else parse_stamp(value)


@dataclass(frozen=True)
class RunStatus:
    """What the dashboard shows about the nightly job."""

    last_run: JobRun | None
    last_success_at: datetime | None
    warning: str | None


def status_warning(
    last_run: JobRun | None, last_success: datetime | None, now: datetime
) -> str | None:
    """Why a librarian should look at the job, or None when all is well."""
    if last_run is None:
        return "The overdue reminder job has never run."
    if last_run.status == "failed":
        return f"The last reminder run failed: {last_run.error or 'no reason recorded'}."
    if last_success is None:
        return "The overdue reminder job has never finished successfully."
    if now - last_success > STALE_AFTER:
        hours = int((now - last_success).total_seconds() // 3600)
        return f"The last successful reminder run was {hours} hours ago: is the scheduler running?"
    return None


async def last_run_status(db: Database, now: datetime | None = None) -> RunStatus:
    """The last run (when, flagged, sent, pending, failed) and a warning when it needs attention."""
    now = now or datetime.now(UTC)
    runs = await recent_runs(db, limit=1)
    last_run = runs[0] if runs else None
    success = await last_success_at(db)
    return RunStatus(last_run, success, status_warning(last_run, success, now))
