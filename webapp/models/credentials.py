"""How an account signs in: its password, a temporary one, its single sign-on identity, and
the account events (sign-ins, failures, passwords set, links sent) admins read.

Account events go to the one event log (``webapp.models.events``) with kinds
starting ``account_``; the circulation log on the patron page leaves them out,
and admins see them in their own table (``account_events``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from webapp.models import accounts, events, sign_in_tokens

ACCOUNT_EVENT_PREFIX = "account_"


def log(
    conn: sqlite3.Connection,
    kind: str,
    *,
    user_id: int,
    actor_id: int | None = None,
    detail: str | None = None,
) -> None:
    """Append an account event (``kind`` without its ``account_`` prefix)."""
    events.log(conn, ACCOUNT_EVENT_PREFIX + kind, actor_id, user_id=user_id, detail=detail)


def log_failed_sign_in(conn: sqlite3.Connection, email: str, detail: str) -> None:
    """A failed sign-in, logged on the account whose email was typed (if there is one)."""
    row = conn.execute("SELECT UserID FROM Users WHERE Email = ?", (email,)).fetchone()
    if row is not None:
        log(conn, "sign_in_failed", user_id=row["UserID"], detail=detail)


def must_change_password(conn: sqlite3.Connection, user_id: int) -> bool:
    row = conn.execute("SELECT MustChangePassword FROM Users WHERE UserID = ?", (user_id,))
    found = row.fetchone()
    return bool(found and found[0])


def password_hash(conn: sqlite3.Connection, user_id: int) -> str | None:
    row = conn.execute("SELECT PasswordHash FROM Users WHERE UserID = ?", (user_id,)).fetchone()
    return None if row is None else row["PasswordHash"]


def change_password(
    conn: sqlite3.Connection, user_id: int, new_hash: str, keep_session_hash: str
) -> None:
    """The account holder set a new password: every other session of the account ends."""
    conn.execute(
        "UPDATE Users SET PasswordHash = ?, MustChangePassword = 0 WHERE UserID = ?",
        (new_hash, user_id),
    )
    conn.execute(
        "DELETE FROM Sessions WHERE UserID = ? AND TokenHash <> ?", (user_id, keep_session_hash)
    )
    log(conn, "password_changed", user_id=user_id, actor_id=user_id)


def set_temporary_password(
    conn: sqlite3.Connection, user_id: int, new_hash: str, actor_id: int
) -> bool:
    """Staff set a password to be changed at the next sign-in; the account's sessions and
    links end. False when there is no such active account."""
    changed = conn.execute(
        "UPDATE Users SET PasswordHash = ?, MustChangePassword = 1 WHERE UserID = ? AND Active = 1",
        (new_hash, user_id),
    ).rowcount
    if not changed:
        return False
    conn.execute("DELETE FROM Sessions WHERE UserID = ?", (user_id,))
    conn.execute(
        "UPDATE SignInTokens SET EndedAt = strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), "
        "EndedAs = 'superseded' WHERE UserID = ? AND EndedAt IS NULL",
        (user_id,),
    )
    log(conn, "temporary_password_set", user_id=user_id, actor_id=actor_id)
    return True


# Single sign-on


@dataclass(frozen=True)
class SsoMatch:
    """The account a verified identity signs in to, or why none."""

    user_id: int | None
    role: str | None
    linked_now: bool = False
    created_now: bool = False


def sso_account(
    conn: sqlite3.Connection,
    *,
    issuer: str,
    subject: str,
    email: str,
    name: str,
    create_role: str | None,
) -> SsoMatch:
    """The active account of this identity: already linked, else the one with this (verified)
    email, linked now; else, when ``create_role`` is set, a new account of that role."""
    row = conn.execute(
        "SELECT u.UserID, u.Role, u.Active FROM SsoIdentities i JOIN Users u USING (UserID) "
        "WHERE i.Issuer = ? AND i.Subject = ?",
        (issuer, subject),
    ).fetchone()
    if row is not None:
        return SsoMatch(row["UserID"], row["Role"]) if row["Active"] else SsoMatch(None, None)
    row = conn.execute(
        "SELECT UserID, Role, Active FROM Users WHERE Email = ?", (email,)
    ).fetchone()
    if row is not None:
        if not row["Active"]:
            return SsoMatch(None, None)
        conn.execute(
            "INSERT INTO SsoIdentities (Issuer, Subject, UserID) VALUES (?, ?, ?) "
            "ON CONFLICT (UserID) DO UPDATE SET Issuer = excluded.Issuer, "
            "Subject = excluded.Subject, LinkedAt = excluded.LinkedAt",
            (issuer, subject, row["UserID"]),
        )
        log(conn, "sso_linked", user_id=row["UserID"], detail=f"{email} at {issuer}")
        return SsoMatch(row["UserID"], row["Role"], linked_now=True)
    if create_role is None:
        return SsoMatch(None, None)
    user_id = conn.execute(
        "INSERT INTO Users (Name, Role, Email) VALUES (?, ?, ?)",
        ((name.strip() or email)[:200], create_role, email),
    ).lastrowid
    assert user_id is not None
    conn.execute(
        "INSERT INTO SsoIdentities (Issuer, Subject, UserID) VALUES (?, ?, ?)",
        (issuer, subject, user_id),
    )
    log(conn, "created_by_sso", user_id=user_id, detail=f"{email} at {issuer}")
    return SsoMatch(user_id, create_role, linked_now=True, created_now=True)


# The patron page


@dataclass(frozen=True)
class SignInStatus:
    """How a patron can sign in, for their page."""

    has_password: bool
    must_change: bool
    sso_linked: bool
    # The live link: (purpose, expires at), or None.
    live_link: tuple[str, str] | None
    # Account events, newest first: only filled for admins.
    events: list[events.EventLine]


def sign_in_status(
    conn: sqlite3.Connection, user_id: int, now: datetime, with_events: bool
) -> SignInStatus | None:
    row = conn.execute(
        "SELECT PasswordHash IS NOT NULL AS HasPassword, MustChangePassword, "
        "EXISTS (SELECT 1 FROM SsoIdentities WHERE UserID = Users.UserID) AS Linked "
        "FROM Users WHERE UserID = ?",
        (user_id,),
    ).fetchone()
    if row is None:
        return None
    return SignInStatus(
        bool(row["HasPassword"]),
        bool(row["MustChangePassword"]),
        bool(row["Linked"]),
        sign_in_tokens.live_link(conn, user_id, now),
        account_events(conn, user_id) if with_events else [],
    )


def account_events(
    conn: sqlite3.Connection, user_id: int, limit: int = 100
) -> list[events.EventLine]:
    """The account events of a patron, newest first."""
    return events.events_for_patron(conn, user_id, limit, account=True)


def active_user(conn: sqlite3.Connection, user_id: int) -> accounts.User | None:
    """The active account with this id, as the sign-in views start sessions for."""
    row = conn.execute("SELECT * FROM Users WHERE UserID = ? AND Active = 1", (user_id,)).fetchone()
    return None if row is None else accounts.user_from_row(row)
