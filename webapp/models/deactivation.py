"""Closing a patron's account: no sign-in, no borrowing, no holds, only reminders for items out.

An inactive patron (Users.Active = 0) cannot sign in (``accounts``) or borrow
(``rules.can_lend``), and the reminder run only ever writes about loans still
out, so they keep hearing about those and nothing else. What this module adds
is the holds: a closed account's waiting and ready holds are cancelled (a copy
on the hold shelf passes to the next in the queue, as any cancellation does),
and the patron is told by one email listing the titles, queued through the
outbox in the same transaction.

``deactivate`` closes accounts (the leavers page); ``release_holds`` settles
patrons made inactive elsewhere (the patron form, an import), and the nightly
run calls it for every inactive patron so no path leaves a hold behind.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import date

from webapp import emails, outbox
from webapp.models import events, holds


@dataclass(frozen=True)
class Released:
    patrons: int = 0
    holds: int = 0
    notices: int = 0


def release_holds(
    conn: sqlite3.Connection,
    *,
    actor_id: int | None,
    today: date,
    library_name: str,
    user_ids: list[int] | None = None,
) -> Released:
    """Cancel the waiting and ready holds of inactive patrons (these ones, or all), each
    patron told once by email when they have an address."""
    rows = conn.execute(
        "SELECT h.HoldID, h.UserID, b.Title, u.Name, u.Email FROM Holds h "
        "JOIN Users u ON u.UserID = h.UserID JOIN Books b ON b.BookID = h.BookID "
        "WHERE u.Active = 0 AND h.Status IN ('waiting', 'ready') "
        "AND (:all OR h.UserID IN (SELECT value FROM json_each(:ids))) "
        "ORDER BY h.UserID, h.PlacedAt, h.HoldID",
        {"all": user_ids is None, "ids": json.dumps(user_ids or [])},
    ).fetchall()
    by_patron: dict[int, list[sqlite3.Row]] = {}
    for row in rows:
        by_patron.setdefault(row["UserID"], []).append(row)
    notices = 0
    for user_id, patron_holds in by_patron.items():
        for hold in patron_holds:
            holds.cancel_hold(
                conn,
                hold_id=hold["HoldID"],
                # The nightly run has no actor: the patron's own account stands in,
                # as the cancellation is the consequence of its closing.
                actor_id=actor_id if actor_id is not None else user_id,
                today=today,
                library_name=library_name,
            )
        first = patron_holds[0]
        if first["Email"]:
            outbox.enqueue(
                conn,
                kind="holds_cancelled",
                user_id=user_id,
                recipient=first["Email"],
                email=emails.holds_cancelled(
                    library_name=library_name,
                    patron_name=first["Name"],
                    titles=[hold["Title"] for hold in patron_holds],
                ),
                header_message_id=(
                    f"<holds-cancelled-{user_id}-{secrets.token_hex(8)}@shelfmark.invalid>"
                ),
            )
            notices += 1
    return Released(len(by_patron), len(rows), notices)


def deactivate(
    conn: sqlite3.Connection,
    *,
    user_ids: list[int],
    actor_id: int,
    today: date,
    library_name: str,
    reason: str,
) -> Released:
    """Close these accounts (staff are left alone), end their sessions, log each, and release
    their holds. Returns what the release did; ``patrons`` counts the accounts closed."""
    ids = json.dumps(user_ids)
    closing = [
        row[0]
        for row in conn.execute(
            "SELECT UserID FROM Users WHERE Active = 1 AND Role = 'Student' "
            "AND UserID IN (SELECT value FROM json_each(?)) ORDER BY UserID",
            (ids,),
        )
    ]
    closing_ids = json.dumps(closing)
    conn.execute(
        "UPDATE Users SET Active = 0 WHERE UserID IN (SELECT value FROM json_each(?))",
        (closing_ids,),
    )
    conn.execute(
        "DELETE FROM Sessions WHERE UserID IN (SELECT value FROM json_each(?))", (closing_ids,)
    )
    for user_id in closing:
        events.log(conn, "deactivated", actor_id, user_id=user_id, detail=reason)
    released = release_holds(
        conn, actor_id=actor_id, today=today, library_name=library_name, user_ids=closing
    )
    return Released(len(closing), released.holds, released.notices)
