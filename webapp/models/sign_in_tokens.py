"""Single-use links to set a password: invitations, resets, and "Forgot your password?".

A link carries a random token (``secrets.token_urlsafe(32)``, 256 bits); only
its SHA-256 is stored (SignInTokens.TokenHash), so the database alone cannot be
used to sign in. A link lasts ``RESET_LIFETIME`` for a reset and
``INVITATION_LIFETIME`` for an invitation, ends when it is used, and ends when a
newer link is issued for the same account (a partial UNIQUE index allows one
live link per account). Using one sets the password, clears a temporary
password's "must change" flag and deletes every session of the account, in one
transaction.

The emails are queued through the outbox (``webapp.outbox.enqueue``) in the same
transaction that issues the token, so a link exists exactly when its email is
queued; ``webapp.send_now`` delivers them at once.

"Forgot your password?" never says whether an address has an account: a known
and an unknown address take the same path (a token generated and hashed, an
email rendered, one write transaction recording the request), and only inside
that transaction does a known, active, unthrottled account get its row and its
email. Requests are throttled per client address (answered with a refusal that
says nothing about the account) and per email address (silently: the same
answer as ever, no email).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from webapp import emails, outbox
from webapp.clock import parse_stamp, utc_stamp
from webapp.models import events, wording

RESET_LIFETIME = timedelta(hours=1)
INVITATION_LIFETIME = timedelta(days=7)
LIFETIMES = {"reset": RESET_LIFETIME, "invitation": INVITATION_LIFETIME}

THROTTLE_WINDOW = timedelta(minutes=15)
REQUESTS_PER_ADDRESS = 10
REQUESTS_PER_EMAIL = 3


def new_token() -> str:
    """A fresh random token for a link (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _issue(
    conn: sqlite3.Connection, user_id: int, purpose: str, hashed: str, now: datetime
) -> None:
    """Issue a link for the account, ending its older one (superseded)."""
    conn.execute(
        "UPDATE SignInTokens SET EndedAt = ?, EndedAs = 'superseded' "
        "WHERE UserID = ? AND EndedAt IS NULL",
        (utc_stamp(now), user_id),
    )
    conn.execute(
        "INSERT INTO SignInTokens (TokenHash, UserID, Purpose, CreatedAt, ExpiresAt) "
        "VALUES (?, ?, ?, ?, ?)",
        (hashed, user_id, purpose, utc_stamp(now), utc_stamp(now + LIFETIMES[purpose])),
    )


def _message_id(kind: str, tag: str) -> str:
    return f"<{kind}-{tag}-{secrets.token_hex(8)}@shelfmark.invalid>"


# "Forgot your password?"


def address_throttled(conn: sqlite3.Connection, address: str, now: datetime) -> bool:
    """Whether this client address has asked too often lately (it is told to wait)."""
    count = conn.execute(
        "SELECT count(*) FROM PasswordResetRequests WHERE Address = ? AND At > ?",
        (address, utc_stamp(now - THROTTLE_WINDOW)),
    ).fetchone()[0]
    return count >= REQUESTS_PER_ADDRESS


def request_reset(
    conn: sqlite3.Connection,
    *,
    email: str,
    address: str,
    token: str,
    link: str,
    library_name: str,
    now: datetime,
) -> None:
    """Record a request and, for an active account not asked for too often, issue a reset
    link and queue its email. Returns nothing: the answer must not depend on the account.
    """
    since = utc_stamp(now - THROTTLE_WINDOW)
    earlier = conn.execute(
        "SELECT count(*) FROM PasswordResetRequests WHERE Email = ? AND At > ?",
        (email, since),
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO PasswordResetRequests (Email, Address, At) VALUES (?, ?, ?)",
        (email, address, utc_stamp(now)),
    )
    row = conn.execute(
        "SELECT UserID, Name, Email FROM Users WHERE Email = ? AND Active = 1", (email,)
    ).fetchone()
    # Rendered for every request, known address or not, so both take the same work.
    message = emails.password_reset(
        library_name=library_name,
        patron_name=row["Name"] if row else email,
        link=link,
        hours=int(RESET_LIFETIME.total_seconds() // 3600),
    )
    if row is None or earlier >= REQUESTS_PER_EMAIL:
        return
    _issue(conn, row["UserID"], "reset", token_hash(token), now)
    outbox.enqueue(
        conn,
        kind="password_reset",
        user_id=row["UserID"],
        recipient=row["Email"],
        email=message,
        header_message_id=_message_id("password-reset", str(row["UserID"])),
    )
    events.log(conn, "account_reset_link_sent", None, user_id=row["UserID"])


# Invitations


@dataclass(frozen=True)
class Invitee:
    user_id: int
    name: str
    email: str | None
    group_name: str | None
    role: str


def _invitee(row: sqlite3.Row) -> Invitee:
    return Invitee(row["UserID"], row["Name"], row["Email"], row["GroupName"], row["Role"])


@dataclass(frozen=True)
class InvitationPreview:
    """Who "Invite everyone without a password" would email, and who it cannot reach."""

    group: str | None
    invitees: list[Invitee]
    without_email: list[Invitee]


def groups(conn: sqlite3.Connection) -> list[str]:
    """The groups or classes patrons belong to, A to Z."""
    rows = conn.execute(
        "SELECT DISTINCT GroupName FROM Users WHERE GroupName IS NOT NULL AND GroupName <> '' "
        "ORDER BY GroupName COLLATE NOCASE"
    )
    return [row[0] for row in rows]


def _without_password(conn: sqlite3.Connection, group: str | None) -> list[sqlite3.Row]:
    if group is None:
        return conn.execute(
            "SELECT * FROM Users WHERE PasswordHash IS NULL AND Active = 1 "
            "ORDER BY Name COLLATE NOCASE, UserID"
        ).fetchall()
    return conn.execute(
        "SELECT * FROM Users WHERE PasswordHash IS NULL AND Active = 1 AND GroupName = ? "
        "ORDER BY Name COLLATE NOCASE, UserID",
        (group,),
    ).fetchall()


def invitation_preview(conn: sqlite3.Connection, group: str | None) -> InvitationPreview:
    """Active accounts without a password (of one group, or all), split by whether they
    have an email address."""
    rows = _without_password(conn, group)
    return InvitationPreview(
        group,
        [_invitee(row) for row in rows if row["Email"]],
        [_invitee(row) for row in rows if not row["Email"]],
    )


def invite(
    conn: sqlite3.Connection,
    *,
    user_ids: Sequence[int],
    actor_id: int,
    tokens: Sequence[str],
    link_prefix: str,
    library_name: str,
    batch: str,
    now: datetime,
) -> int:
    """Issue an invitation link to each of these accounts that is active and has an email,
    and queue its email; returns how many were queued. ``tokens`` pairs with ``user_ids``.
    """
    queued = 0
    invitation_wording = wording.current(conn, "invitation")
    for user_id, token in zip(user_ids, tokens, strict=True):
        row = conn.execute(
            "SELECT UserID, Name, Email FROM Users WHERE UserID = ? AND Active = 1 "
            "AND Email IS NOT NULL",
            (user_id,),
        ).fetchone()
        if row is None:
            continue
        _issue(conn, user_id, "invitation", token_hash(token), now)
        outbox.enqueue(
            conn,
            kind="invitation",
            user_id=user_id,
            recipient=row["Email"],
            email=emails.invitation(
                library_name=library_name,
                patron_name=row["Name"],
                link=link_prefix + token,
                days=INVITATION_LIFETIME.days,
                wording=invitation_wording,
            ),
            header_message_id=_message_id("invitation", f"{batch}-{user_id}"),
        )
        events.log(conn, "account_invitation_sent", actor_id, user_id=user_id)
        queued += 1
    return queued


def invite_group(
    conn: sqlite3.Connection,
    *,
    group: str | None,
    actor_id: int,
    link_prefix: str,
    library_name: str,
    batch: str,
    now: datetime,
) -> int:
    """Invite every active account without a password (of one group, or all) that has an
    email address, in one transaction; returns how many."""
    invitees = invitation_preview(conn, group).invitees
    return invite(
        conn,
        user_ids=[invitee.user_id for invitee in invitees],
        actor_id=actor_id,
        tokens=[new_token() for _ in invitees],
        link_prefix=link_prefix,
        library_name=library_name,
        batch=batch,
        now=now,
    )


@dataclass(frozen=True)
class BatchProgress:
    total: int
    sent: int
    failed: int

    @property
    def waiting(self) -> int:
        return self.total - self.sent - self.failed

    @property
    def done(self) -> bool:
        return self.waiting == 0


def batch_progress(conn: sqlite3.Connection, batch: str) -> BatchProgress:
    """How far the invitation emails of one "Invite everyone" have gone."""
    row = conn.execute(
        "SELECT count(*) AS Total, count(*) FILTER (WHERE Status = 'sent') AS Sent, "
        "count(*) FILTER (WHERE Status IN ('failed', 'cancelled')) AS Failed "
        "FROM Outbox WHERE Kind = 'invitation' AND HeaderMessageID LIKE ?",
        (f"<invitation-{batch}-%",),
    ).fetchone()
    return BatchProgress(row["Total"], row["Sent"], row["Failed"])


# Using a link


@dataclass(frozen=True)
class Link:
    """What a token opens: the account, or why it opens nothing."""

    purpose: str | None
    user_id: int | None
    name: str | None
    email: str | None
    # None while the link works; else "unknown", "expired", "used" or "superseded".
    problem: str | None


def look_up(conn: sqlite3.Connection, token: str, now: datetime) -> Link:
    row = conn.execute(
        "SELECT t.Purpose, t.ExpiresAt, t.EndedAs, u.UserID, u.Name, u.Email, u.Active "
        "FROM SignInTokens t JOIN Users u ON u.UserID = t.UserID WHERE t.TokenHash = ?",
        (token_hash(token),),
    ).fetchone()
    if row is None or not row["Active"]:
        return Link(None, None, None, None, "unknown")
    problem = row["EndedAs"]
    if problem is None and parse_stamp(row["ExpiresAt"]) <= now:
        problem = "expired"
    return Link(row["Purpose"], row["UserID"], row["Name"], row["Email"], problem)


def use(conn: sqlite3.Connection, token: str, password_hash: str, now: datetime) -> Link:
    """Set the password through a live link: the link ends, every session of the account is
    deleted, the event is logged. Returns the link as it was (with its problem, if any)."""
    link = look_up(conn, token, now)
    if link.problem is not None or link.user_id is None:
        return link
    conn.execute(
        "UPDATE SignInTokens SET EndedAt = ?, EndedAs = 'used' WHERE TokenHash = ?",
        (utc_stamp(now), token_hash(token)),
    )
    conn.execute(
        "UPDATE Users SET PasswordHash = ?, MustChangePassword = 0 WHERE UserID = ?",
        (password_hash, link.user_id),
    )
    conn.execute("DELETE FROM Sessions WHERE UserID = ?", (link.user_id,))
    kind = "account_password_reset" if link.purpose == "reset" else "account_password_set"
    events.log(conn, kind, link.user_id, user_id=link.user_id, detail="through an emailed link")
    return link


def live_link(conn: sqlite3.Connection, user_id: int, now: datetime) -> tuple[str, str] | None:
    """The account's live link, if any: (purpose, expires at)."""
    row = conn.execute(
        "SELECT Purpose, ExpiresAt FROM SignInTokens WHERE UserID = ? AND EndedAt IS NULL "
        "AND ExpiresAt > ?",
        (user_id, utc_stamp(now)),
    ).fetchone()
    return None if row is None else (row["Purpose"], row["ExpiresAt"])
