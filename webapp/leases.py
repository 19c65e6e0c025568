"""Job leases: a row in JobLeases lets one process in the world run a job at a time.

A run takes the lease (``Lease.acquire``), renews it as it goes
(``Lease.keep``) and gives it back at the end (``Lease.release``). A lease
expires on its own after its time to live, so a run that stalls loses it and
must stop; a holder whose process is gone on this host is ignored at once, so
the run after a SIGKILL need not wait for the expiry.

A holder is named by host, PID *and the process's start time* (plus a token
unique to the run). The PID alone is not enough: a container restarted after
a crash runs its server as PID 1 again, so the dead holder's PID is alive and
the catch-up run would wait out the lease and be lost. The start time (the
kernel's boot id and the process's start tick, from /proc) tells the new PID 1
from the old one.

The SQL is in plain functions run on the writer by ``db.write``.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

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


def process_started(pid: int) -> str | None:
    """When process ``pid`` started, as "<boot id>.<start tick>", or None if unknown.

    Linux only (/proc); elsewhere holders are told apart by PID alone.
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and brackets: count from its end.
    fields = stat[stat.rindex(")") + 2 :].split()
    return f"{boot}.{fields[19]}"


def new_holder() -> str:
    """A lease holder name: host, PID and start time of this process, and a run token."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{process_started(pid) or '-'}:{secrets.token_hex(4)}"


def holder_is_gone(holder: str) -> bool:
    """Whether the process named by ``holder`` is known to be dead.

    Only a holder on this host can be checked; one elsewhere counts as alive
    until its lease expires. This is what lets the run after a SIGKILL start
    at once instead of waiting for the lease to time out. A live process with
    the holder's PID but another start time is a new process that reused the
    PID (a restarted container's PID 1): the holder is gone.
    """
    parts = holder.split(":")
    if len(parts) < 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    # host:pid:start:token; a holder written before start times were recorded has three parts.
    started = parts[2] if len(parts) == 4 else "-"
    return started != "-" and started != process_started(pid)


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
