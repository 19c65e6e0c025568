"""What /metrics and /healthz read from the database: small, cheap queries and one probe."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from webapp.clock import parse_stamp

# The outbox states worth watching: waiting to go, handed to the server right
# now, and given up on. Sent and cancelled messages only ever grow.
WATCHED_OUTBOX_STATES = ("pending", "sending", "failed")
PROBE_LEASE = "healthz-write-probe"


def outbox_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Messages in each watched outbox state (0 when none); uses the Outbox_Due index."""
    counts = dict.fromkeys(WATCHED_OUTBOX_STATES, 0)
    placeholders = ", ".join("?" * len(WATCHED_OUTBOX_STATES))
    for status, count in conn.execute(
        f"SELECT Status, count(*) FROM Outbox WHERE Status IN ({placeholders}) GROUP BY Status",
        WATCHED_OUTBOX_STATES,
    ):
        counts[status] = count
    return counts


@dataclass(frozen=True)
class ReminderHistory:
    """Enough of the nightly job's history to tell whether it is overdue."""

    ever_ran: bool
    last_success_at: datetime | None


def reminder_history(conn: sqlite3.Connection) -> ReminderHistory:
    """One query over JobRuns (one row a night): whether the job ever ran, and its last success."""
    ever_ran, last_success = conn.execute(
        "SELECT count(*) > 0, max(CASE WHEN Status = 'succeeded' THEN StartedAt END) "
        "FROM JobRuns WHERE Job = 'reminders'"
    ).fetchone()
    return ReminderHistory(bool(ever_ran), last_success and parse_stamp(last_success))


def database_bytes(path: Path) -> dict[str, int]:
    """Size on disk of the database file and of its write-ahead log (0 when absent)."""
    sizes = {}
    for part, file in (("main", path), ("wal", path.with_name(path.name + "-wal"))):
        try:
            sizes[part] = file.stat().st_size
        except FileNotFoundError:
            sizes[part] = 0
    return sizes


def probe_write(conn: sqlite3.Connection) -> None:
    """A real write that leaves nothing behind (run as one transaction with ``db.write``).

    The row is added and removed in the same transaction, but the pages it
    touched are still written to the log at commit: a read-only file or folder,
    or a disk with no room for the log to grow, makes this fail as any
    librarian's next loan would.
    """
    conn.execute(
        "INSERT INTO JobLeases (Name, Holder, ExpiresAt) "
        "VALUES (?, 'healthz', '1970-01-01T00:00:00Z')",
        (PROBE_LEASE,),
    )
    conn.execute("DELETE FROM JobLeases WHERE Name = ?", (PROBE_LEASE,))
