"""Accounts: password checks, server-side sessions and login throttling."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from webapp import login_throttle
from webapp.access import STAFF_ROLES
from webapp.clock import parse_stamp, utc_now, utc_stamp
from webapp.db import Database, Transaction, inserted_id

_hasher = PasswordHasher()
# Checked when the email is unknown, so a wrong email costs as much time as a
# wrong password and response times do not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("not a real password")

STAFF_SESSION_LIFETIME = timedelta(hours=10)
PATRON_SESSION_LIFETIME = timedelta(days=14)


@dataclass(frozen=True)
class User:
    user_id: int
    name: str
    role: str
    email: str | None
    card_number: str | None
    active: bool

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == "Admin"


def user_from_row(row) -> User:
    return User(
        user_id=row["UserID"],
        name=row["Name"],
        role=row["Role"],
        email=row["Email"],
        card_number=row["CardNumber"],
        active=bool(row["Active"]),
    )


def hash_password(password: str) -> str:
    """An argon2id hash. CPU-bound (tens of ms): call it from a thread in async code."""
    return _hasher.hash(password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class LoginRefusal:
    message: str
    retry_after_seconds: int


def _refusal(wait: int) -> LoginRefusal:
    if wait < 60:
        amount, unit = wait, "second"
    else:
        amount, unit = max(1, round(wait / 60)), "minute"
    return LoginRefusal(
        f"Too many failed sign-in attempts. Please wait {amount} {unit}"
        f"{'s' if amount != 1 else ''} and try again, or ask a librarian.",
        wait,
    )


def reserve_attempt(
    conn: sqlite3.Connection, email: str, address: str, now: datetime
) -> int | LoginRefusal | None:
    """Record a sign-in attempt as "checking" before its password is checked, if it may go.

    Run as one write transaction (``db.write``): the counts and the new row are
    atomic, so simultaneous attempts see each other. Returns the new row's id;
    or why to wait (a refused attempt records nothing, so hammering does not
    prolong the wait); or None when the attempt must wait for attempts still
    being checked to finish (``login_throttle.must_wait_for_checks``).
    """
    since = utc_stamp(now - login_throttle.WINDOW)
    stale = utc_stamp(now - login_throttle.CHECK_TIMEOUT)

    def failures_and_checking(rows: list[sqlite3.Row]) -> tuple[list[datetime], int]:
        """Failures newest first (a check that never finished is one), and checks running."""
        failures, running = [], 0
        for row in rows:
            if row["Checking"] and row["At"] > stale:
                running += 1
            else:
                failures.append(parse_stamp(row["At"]))
        return failures, running

    pair, pair_checking = failures_and_checking(
        conn.execute(
            "SELECT At, Checking FROM LoginFailures WHERE Email = ? AND Address = ? AND At > ? "
            "ORDER BY At DESC",
            (email, address, since),
        ).fetchall()
    )
    from_address, address_checking = failures_and_checking(
        conn.execute(
            "SELECT At, Checking FROM LoginFailures WHERE Address = ? AND At > ? ORDER BY At DESC",
            (address, since),
        ).fetchall()
    )
    wait = login_throttle.seconds_to_wait(pair, from_address, now)
    if wait > 0:
        return _refusal(wait)
    if login_throttle.must_wait_for_checks(
        len(pair), pair_checking, len(from_address), address_checking
    ):
        return None
    return inserted_id(
        conn.execute(
            "INSERT INTO LoginFailures (Email, Address, At, Checking) VALUES (?, ?, ?, 1)",
            (email, address, utc_stamp(now)),
        )
    )


def record_failure(conn: sqlite3.Connection, attempt_id: int) -> None:
    """The password of this attempt was wrong: it stays, as a failure."""
    conn.execute("UPDATE LoginFailures SET Checking = 0 WHERE FailureID = ?", (attempt_id,))


def forget_failures(conn: sqlite3.Connection, attempt_id: int, email: str, address: str) -> None:
    """The password was right: remove the attempt, and this account's failures from this
    address (not other attempts still being checked)."""
    conn.execute(
        "DELETE FROM LoginFailures "
        "WHERE FailureID = ? OR (Email = ? AND Address = ? AND Checking = 0)",
        (attempt_id, email, address),
    )


def prune_login_failures(conn: sqlite3.Connection, before: datetime) -> int:
    """Remove failures recorded before ``before``; returns how many.

    Throttling looks back ``login_throttle.WINDOW``; the nightly job keeps a day,
    for looking into an attack, and removes the rest.
    """
    return conn.execute("DELETE FROM LoginFailures WHERE At < ?", (utc_stamp(before),)).rowcount


async def attempt_sign_in(
    db: Database, email: str, password: str, address: str
) -> User | LoginRefusal | None:
    """The active user with this email and password; a refusal to check it yet; or None.

    The attempt is reserved (``reserve_attempt``) before the slow password
    check, so simultaneous guesses cannot all pass the limit before any is
    counted; one that must wait for checks in flight tries again for up to
    ``login_throttle.CHECK_WAIT``. See ``webapp.login_throttle`` for the policy.
    """
    email = email[:254]
    give_up = time.monotonic() + login_throttle.CHECK_WAIT.total_seconds()
    pause = 0.05
    while (reserved := await db.write(reserve_attempt, email, address, utc_now())) is None:
        if time.monotonic() > give_up:
            return _refusal(1)
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.4)
    if isinstance(reserved, LoginRefusal):
        return reserved
    row = await db.fetch_one("SELECT * FROM Users WHERE Email = ?", (email,))
    password_ok = await asyncio.to_thread(_verify, row["PasswordHash"] if row else None, password)
    if row is not None and password_ok and row["Active"]:
        await db.write(forget_failures, reserved, email, address)
        return user_from_row(row)
    await db.write(record_failure, reserved)
    return None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(db: Database, user: User) -> str:
    """Create a server-side session and return the token for the cookie."""
    token = secrets.token_urlsafe(32)
    lifetime = STAFF_SESSION_LIFETIME if user.is_staff else PATRON_SESSION_LIFETIME
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM Sessions WHERE ExpiresAt < ?", (utc_stamp(utc_now()),))
        await tx.execute(
            "INSERT INTO Sessions (TokenHash, UserID, ExpiresAt) VALUES (?, ?, ?)",
            (_token_hash(token), user.user_id, utc_stamp(utc_now() + lifetime)),
        )
    return token


async def session_user(db: Database, token: str) -> User | None:
    """The active user behind a live session token, or None."""
    row = await db.fetch_one(
        "SELECT u.* FROM Sessions s JOIN Users u ON u.UserID = s.UserID "
        "WHERE s.TokenHash = ? AND s.ExpiresAt > ? AND u.Active = 1",
        (_token_hash(token), utc_stamp(utc_now())),
    )
    return user_from_row(row) if row else None


async def end_session(db: Database, token: str) -> None:
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM Sessions WHERE TokenHash = ?", (_token_hash(token),))


async def create_user(
    tx: Transaction,
    *,
    name: str,
    role: str,
    email: str | None,
    password_hash: str | None,
    card_number: str | None = None,
    group_name: str | None = None,
) -> int:
    return await tx.insert(
        "INSERT INTO Users (Name, Role, Email, CardNumber, GroupName, PasswordHash) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (name, role, email, card_number, group_name, password_hash),
    )
