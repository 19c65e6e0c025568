"""The scheduler's heartbeat: written every minute, read by its health check."""

from __future__ import annotations

import os
import socket
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from webapp.clock import parse_stamp, utc_stamp

# The scheduler beats every minute; three missed beats mean it is not working.
BEAT_EVERY = timedelta(minutes=1)
MAX_AGE = timedelta(minutes=3)


@dataclass(frozen=True)
class Heartbeat:
    holder: str
    beat_at: datetime


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def record_beat(conn: sqlite3.Connection, holder: str, now: datetime) -> None:
    """Replace the heartbeat with one from ``holder`` at ``now`` (run it through db.write)."""
    conn.execute(
        "INSERT INTO SchedulerHeartbeat (Singleton, Holder, BeatAt) VALUES (1, ?, ?) "
        "ON CONFLICT (Singleton) DO UPDATE SET Holder = excluded.Holder, BeatAt = excluded.BeatAt",
        (holder, utc_stamp(now)),
    )


def last_beat(conn: sqlite3.Connection) -> Heartbeat | None:
    row = conn.execute("SELECT Holder, BeatAt FROM SchedulerHeartbeat").fetchone()
    return None if row is None else Heartbeat(row[0], parse_stamp(row[1]))


def heartbeat_problem(beat: Heartbeat | None, now: datetime, max_age: timedelta) -> str | None:
    """Why the scheduler looks unhealthy, in one line, or None when its last beat is recent."""
    if beat is None:
        return "the scheduler has never recorded a heartbeat: is `shelfmark scheduler` running?"
    age = now - beat.beat_at
    if age > max_age:
        return (
            f"the scheduler's last heartbeat ({beat.holder}) was {int(age.total_seconds())} s ago, "
            f"more than {int(max_age.total_seconds())} s"
        )
    return None
