"""Which errors mean "no room to write" or "the database is busy", and what users are told.

A full disk (SQLITE_FULL from SQLite, ENOSPC and its kin from the file system)
and a write lock held too long by another process are conditions of the
server, not mistakes of the request: they are answered with 503, a clear
message and ``Retry-After``, instead of a generic 500, and a full disk is
reported by /healthz (``webapp.health.WriteProbe.note_no_room``). No Quart,
and no connection: only SQLite's error codes.
"""

from __future__ import annotations

import errno
import sqlite3
from dataclasses import dataclass

# No space left, over quota, or larger than this process may write (RLIMIT_FSIZE).
NO_ROOM_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})

NO_ROOM_MESSAGE = (
    "The server's disk is full, so nothing was saved. "
    "Please tell your administrator, and try again once space has been freed."
)
BUSY_MESSAGE = (
    "The database is busy with a long task (such as a large import), so nothing was saved. "
    "Please try again in a few seconds."
)


@dataclass(frozen=True)
class WriteFailure:
    """How to answer a write the server could not make."""

    no_room: bool
    message: str
    retry_after: int  # seconds, for the Retry-After header


def is_no_room(error: BaseException) -> bool:
    """Whether ``error`` says the disk (or the database's size limit) is full."""
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        return (code is not None and code & 0xFF == sqlite3.SQLITE_FULL) or (
            "disk is full" in str(error)
        )
    return isinstance(error, OSError) and error.errno in NO_ROOM_ERRNOS


def is_busy(error: BaseException) -> bool:
    """Whether ``error`` is SQLite giving up on a lock another connection held too long."""
    if not isinstance(error, sqlite3.OperationalError):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "database is locked" in str(error)


def classify(error: BaseException) -> WriteFailure | None:
    """The answer for a full disk or a busy database; None for any other error."""
    if is_no_room(error):
        return WriteFailure(True, NO_ROOM_MESSAGE, 300)
    if is_busy(error):
        return WriteFailure(False, BUSY_MESSAGE, 5)
    return None
