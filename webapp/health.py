"""What /healthz reports: whether the database answers, takes writes, and the nightly
reminder run is on time (docs/operations.md, Health)."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time
from datetime import datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from zoneinfo import ZoneInfo

from webapp import write_failures
from webapp.db import Database
from webapp.models import monitoring
from webapp.reminder_stages import MISFIRE_GRACE, last_scheduled_run

# APScheduler may start the nightly run up to MISFIRE_GRACE late, and the run
# itself takes a while: only after both may a missing run be called overdue.
OVERDUE_AFTER = MISFIRE_GRACE + timedelta(hours=1)
PROBE_INTERVAL = 10.0  # seconds: /healthz is polled often, a write each time is not needed
PROBE_PATIENCE = 2.0  # seconds /healthz waits for a probe stuck behind another writer
# A write that failed for want of room is reported this long: the probe's small
# write can still fit in a page that has room while a sign-in's does not.
NO_ROOM_REMEMBERED = 60.0  # seconds
# Less free space than this on the database's file system is reported as full:
# SQLite needs room for its write-ahead log, and an upload for its file.
MIN_FREE_BYTES = 16 * 1024 * 1024


def reminders_overdue(
    history: monitoring.ReminderHistory, now: datetime, at: time_of_day, zone: ZoneInfo
) -> datetime | None:
    """The scheduled time of the nightly run that is missing, or None when on time.

    Missing means no successful run started since that time, and OVERDUE_AFTER
    has passed since it. A database on which the job has never run is not
    overdue: a new library, the tests and the benchmarks have no scheduler, and
    the dashboard already says "the overdue reminder job has never run".
    """
    if not history.ever_ran:
        return None
    due = last_scheduled_run(now - OVERDUE_AFTER, at, zone)
    if history.last_success_at is None or history.last_success_at < due:
        return due
    return None


class WriteProbe:
    """A real write to the database at most every PROBE_INTERVAL seconds, its result kept.

    Another process may hold SQLite's write lock for a long while (a big
    import): then the probe waits in the background and /healthz says "busy"
    instead of hanging or calling the database broken.
    """

    def __init__(self) -> None:
        self._checked_at = float("-inf")
        self._problem: str | None = None
        self._running: asyncio.Task | None = None
        self._no_room_at = float("-inf")

    def note_no_room(self) -> None:
        """A request's write just failed for want of room: report it, and probe again."""
        self._no_room_at = time.monotonic()
        self._checked_at = float("-inf")

    async def problem(self, db: Database) -> str | None:
        """None when the last probe wrote; else why it could not ("busy" while it waits,
        "disk full" when a write failed for want of room or the disk has almost none left)."""
        if time.monotonic() - self._no_room_at < NO_ROOM_REMEMBERED or _almost_full(db.path):
            return "disk full"
        if self._running is None and time.monotonic() - self._checked_at >= PROBE_INTERVAL:
            self._running = asyncio.ensure_future(self._probe(db))
        if self._running is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._running), PROBE_PATIENCE)
            except TimeoutError:
                return "busy"
        return self._problem

    async def _probe(self, db: Database) -> None:
        try:
            await db.write(monitoring.probe_write)
            self._problem = None
        except sqlite3.OperationalError as error:
            if write_failures.is_no_room(error):
                self.note_no_room()
                self._problem = "disk full"
            elif write_failures.is_busy(error):
                self._problem = "busy"
            else:
                self._problem = f"cannot write: {error}"
        except (sqlite3.Error, OSError) as error:
            self._problem = f"cannot write: {error}"
        finally:
            self._checked_at = time.monotonic()
            self._running = None


def _almost_full(database: Path) -> bool:
    try:
        return shutil.disk_usage(database.parent).free < MIN_FREE_BYTES
    except OSError:
        return False


def write_probe(extensions: dict) -> WriteProbe:
    """The app's one probe, kept in ``app.extensions`` (made on first use)."""
    return extensions.setdefault("shelfmark.write_probe", WriteProbe())
