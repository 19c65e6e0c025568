"""Accounts: password checks, server-side sessions and login throttling."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from webapp.access import STAFF_ROLES
from webapp.clock import utc_now, utc_stamp
from webapp.db import Database, Transaction

_hasher = PasswordHasher()
# Checked when the email is unknown, so a wrong email costs as much time as a
# wrong password and response times do not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("not a real password")

STAFF_SESSION_LIFETIME = timedelta(hours=10)
PATRON_SESSION_LIFETIME = timedelta(days=14)

THROTTLE_WINDOW = timedelta(minutes=15)
FAILURES_BEFORE_SLOWDOWN = 2
FAILURES_PER_ACCOUNT_LIMIT = 5
FAILURES_PER_ADDRESS_LIMIT = 20


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


async def login_refusal(db: Database, email: str, address: str) -> LoginRefusal | None:
    """Whether this account or address has failed too often lately to try again yet."""
    since = utc_stamp(utc_now() - THROTTLE_WINDOW)
    row = await db.fetch_row(
        """
        SELECT (SELECT count(*) FROM LoginFailures WHERE Email = ? AND At > ?) AS ByEmail,
               (SELECT min(At) FROM (SELECT At FROM LoginFailures WHERE Email = ? AND At > ?
                                     ORDER BY At DESC LIMIT ?)) AS EmailWindowStart,
               (SELECT count(*) FROM LoginFailures WHERE Address = ? AND At > ?) AS ByAddress,
               (SELECT min(At) FROM (SELECT At FROM LoginFailures WHERE Address = ? AND At > ?
                                     ORDER BY At DESC LIMIT ?)) AS AddressWindowStart
        """,
        (
            email,
            since,
            email,
            since,
            FAILURES_PER_ACCOUNT_LIMIT,
            address,
            since,
            address,
            since,
            FAILURES_PER_ADDRESS_LIMIT,
        ),
    )
    for count, limit, window_start in (
        (row["ByEmail"], FAILURES_PER_ACCOUNT_LIMIT, row["EmailWindowStart"]),
        (row["ByAddress"], FAILURES_PER_ADDRESS_LIMIT, row["AddressWindowStart"]),
    ):
        if count >= limit:
            started = datetime.strptime(window_start, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            wait = max(1, int((started + THROTTLE_WINDOW - utc_now()).total_seconds()))
            minutes = max(1, round(wait / 60))
            return LoginRefusal(
                f"Too many failed sign-in attempts. Please wait {minutes} "
                f"minute{'s' if minutes != 1 else ''} and try again, or ask a librarian.",
                wait,
            )
    return None


async def authenticate(db: Database, email: str, password: str, address: str) -> User | None:
    """The active user with this email and password, or None (and the failure is recorded).

    After a couple of failures each further attempt is slowed down a little more,
    which makes guessing slow long before the hard limit refuses it.
    """
    row = await db.fetch_one("SELECT * FROM Users WHERE Email = ?", (email,))
    password_ok = await asyncio.to_thread(_verify, row["PasswordHash"] if row else None, password)
    if row is not None and password_ok and row["Active"]:
        async with db.transaction() as tx:
            await tx.execute("DELETE FROM LoginFailures WHERE Email = ?", (email,))
        return user_from_row(row)
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO LoginFailures (Email, Address) VALUES (?, ?)", (email[:254], address)
        )
        recent = await tx.fetch_value(
            "SELECT count(*) FROM LoginFailures WHERE Email = ? AND At > ?",
            (email[:254], utc_stamp(utc_now() - THROTTLE_WINDOW)),
        )
    if recent > FAILURES_BEFORE_SLOWDOWN:
        await asyncio.sleep(min(0.25 * 2 ** (recent - FAILURES_BEFORE_SLOWDOWN), 2.0))
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
