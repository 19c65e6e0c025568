"""Job leases: a row in JobLeases lets one process in the world run a job at a time.

A run takes the lease (``Lease.acquire``), renews it as it goes
(``Lease.keep``) and gives it back at the end (``Lease.release``). A lease
expires on its own after its time to live, so a run that stalls loses it and
must stop; a holder whose process is gone on this host is ignored at once, so
the run after a SIGKILL need not wait for the expiry.

The SQL is in plain functions run on the writer by ``db.write``.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta

from webapp.clock import parse_stamp, utc_stamp
from webapp.db import Database

TTL = timedelta(minutes=5)
RENEW_EVERY = timedelta(minutes=1)


class LeaseHeld(Exception):
    """Another process is running the job; nothing was done."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"another run holds the lease ({holder})")
        self.holder = holder


class LostLease(Exception):
    """Our lease was taken over (we stalled past its expiry): stop at once."""


def new_holder() -> str:
    """A lease holder name: this host and process, plus a token unique to the run."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def holder_is_gone(holder: str) -> bool:
    """Whether the process named by ``holder`` is known to be dead.

    Only a holder on this host can be checked; one elsewhere counts as alive
    until its lease expires. This is what lets the run after a SIGKILL start
    at once instead of waiting for the lease to time out.
    """
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def acquire(
    conn: sqlite3.Connection, name: str, holder: str, ttl: timedelta, now: datetime
) -> str | None:
    """Take the lease ``name``; None when taken, else the name of the live holder."""
    current = conn.execute(
        "SELECT Holder, ExpiresAt FROM JobLeases WHERE Name = ?", (name,)
    ).fetchone()
    if (
        current is not None
        and current["Holder"] != holder
        and parse_stamp(current["ExpiresAt"]) > now
        and not holder_is_gone(current["Holder"])
    ):
        return current["Holder"]
    conn.execute(
        "INSERT INTO JobLeases (Name, Holder, ExpiresAt) VALUES (?, ?, ?) "
        "ON CONFLICT (Name) DO UPDATE SET Holder = excluded.Holder, ExpiresAt = excluded.ExpiresAt",
        (name, holder, utc_stamp(now + ttl)),
    )
    return None


def renew(conn: sqlite3.Connection, name: str, holder: str, ttl: timedelta, now: datetime) -> bool:
    """Extend our lease; False when it is no longer ours (we must stop)."""
    cursor = conn.execute(
        "UPDATE JobLeases SET ExpiresAt = ? WHERE Name = ? AND Holder = ?",
        (utc_stamp(now + ttl), name, holder),
    )
    return cursor.rowcount == 1


def release(conn: sqlite3.Connection, name: str, holder: str) -> None:
    conn.execute("DELETE FROM JobLeases WHERE Name = ? AND Holder = ?", (name, holder))


class Lease:
    """Our hold on the lease ``name``, renewed at most every ``RENEW_EVERY`` as a run goes on."""

    def __init__(self, db: Database, name: str, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._name = name
        self._clock = clock
        self.holder = new_holder()
        self._renewed_at = clock()

    async def acquire(self) -> None:
        """Take the lease, or raise LeaseHeld when a live run holds it."""
        holder = await self._db.write(acquire, self._name, self.holder, TTL, self._clock())
        if holder is not None:
            raise LeaseHeld(holder)
        self._renewed_at = self._clock()

    async def keep(self) -> None:
        """Renew the lease if a minute has passed; raise LostLease when it is no longer ours."""
        now = self._clock()
        if now - self._renewed_at < RENEW_EVERY:
            return
        if not await self._db.write(renew, self._name, self.holder, TTL, now):
            raise LostLease(f"the {self._name} lease was taken over by another run")
        self._renewed_at = now

    async def release(self) -> None:
        await self._db.write(release, self._name, self.holder)
