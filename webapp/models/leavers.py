"""The end of the school year: who has left, what they still have out, and classes moving up.

- ``missing_from_list``: active pupils in the library but not in next year's class
  list (matched by email, else card number), whom ``deactivation.deactivate``
  then closes once staff confirm.
- ``leavers_with_items``: closed accounts, or pupils in a chosen group, with items
  still out; ``queue_letters`` emails each of them their letter through the outbox.
- ``groups`` and ``promote``: every class renamed at once (Year 7 → Year 8, …,
  Year 13 → Leavers) in one transaction, logged as one 'groups_promoted' event.
  Loans keep the group they were lent under (Loans.BorrowerGroup), so statistics
  per class do not move when the classes do.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import date

from webapp import emails, outbox
from webapp.models import events


@dataclass(frozen=True)
class Missing:
    user_id: int
    name: str
    group_name: str | None
    card_number: str | None
    email: str | None
    items_out: int


def missing_from_list(
    conn: sqlite3.Connection, emails_in_file: set[str], cards_in_file: set[str]
) -> list[Missing]:
    """Active pupils whom the class list names neither by email nor by card (any case)."""
    found = conn.execute(
        """
        SELECT u.UserID, u.Name, u.GroupName, u.CardNumber, u.Email,
               (SELECT count(*) FROM Loans l WHERE l.UserID = u.UserID AND l.ReturnedAt IS NULL)
                   AS ItemsOut
        FROM Users u
        WHERE u.Active = 1 AND u.Role = 'Student'
          AND (u.Email IS NULL OR lower(u.Email) NOT IN (SELECT value FROM json_each(:emails)))
          AND (u.CardNumber IS NULL
               OR lower(u.CardNumber) NOT IN (SELECT value FROM json_each(:cards)))
        ORDER BY u.GroupName, u.Name, u.UserID
        """,
        {
            "emails": json.dumps(sorted(e.lower() for e in emails_in_file)),
            "cards": json.dumps(sorted(c.lower() for c in cards_in_file)),
        },
    )
    return [
        Missing(r["UserID"], r["Name"], r["GroupName"], r["CardNumber"], r["Email"], r["ItemsOut"])
        for r in found
    ]


@dataclass(frozen=True)
class ItemOut:
    title: str
    barcode: str
    due: date


@dataclass(frozen=True)
class Leaver:
    user_id: int
    name: str
    group_name: str | None
    email: str | None
    active: bool
    items: list[ItemOut]


def leavers_with_items(conn: sqlite3.Connection, group: str | None) -> list[Leaver]:
    """Closed accounts, or patrons in ``group``, that still have items out, by group and name."""
    rows = conn.execute(
        """
        SELECT u.UserID, u.Name, u.GroupName, u.Email, u.Active, b.Title, c.Barcode, l.ReturnDate
        FROM Users u JOIN Loans l ON l.UserID = u.UserID AND l.ReturnedAt IS NULL
        JOIN Books b ON b.BookID = l.BookID JOIN Copies c ON c.CopyID = l.CopyID
        WHERE u.Active = 0 OR u.GroupName = :group  -- no group chosen: closed accounts only
        ORDER BY u.GroupName, u.Name, u.UserID, l.ReturnDate, b.Title
        """,
        {"group": group},
    )
    leavers: dict[int, Leaver] = {}
    for row in rows:
        leaver = leavers.setdefault(
            row["UserID"],
            Leaver(
                row["UserID"], row["Name"], row["GroupName"], row["Email"], bool(row["Active"]), []
            ),
        )
        leaver.items.append(
            ItemOut(row["Title"], row["Barcode"], date.fromisoformat(row["ReturnDate"]))
        )
    return list(leavers.values())


def letter(leaver: Leaver, library_name: str) -> emails.RenderedEmail:
    """The letter to a leaver (printed or emailed): the same words either way."""
    return emails.leaver_letter(
        library_name=library_name,
        patron_name=leaver.name,
        items=[(item.title, item.barcode, item.due) for item in leaver.items],
    )


def queue_letters(
    conn: sqlite3.Connection, *, group: str | None, library_name: str, actor_id: int
) -> tuple[int, list[Leaver]]:
    """Queue each leaver's letter through the outbox; returns how many were queued and the
    leavers without an address (their letter is printed instead)."""
    queued, by_hand = 0, []
    for leaver in leavers_with_items(conn, group):
        if not leaver.email:
            by_hand.append(leaver)
            continue
        outbox.enqueue(
            conn,
            kind="leaver_letter",
            user_id=leaver.user_id,
            recipient=leaver.email,
            email=letter(leaver, library_name),
            header_message_id=(
                f"<leaver-{leaver.user_id}-{secrets.token_hex(8)}@shelfmark.invalid>"
            ),
        )
        events.log(
            conn,
            "leaver_letter",
            actor_id,
            user_id=leaver.user_id,
            detail=f"{len(leaver.items)} item(s) out",
        )
        queued += 1
    return queued, by_hand


def groups(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """Every group with its number of patrons, in name order."""
    return [
        (row[0], row[1])
        for row in conn.execute(
            "SELECT GroupName, count(*) FROM Users WHERE GroupName IS NOT NULL "
            "GROUP BY GroupName ORDER BY GroupName"
        )
    ]


def promote(conn: sqlite3.Connection, mapping: dict[str, str], actor_id: int) -> int:
    """Rename every group in ``mapping`` at once (one statement, so Year 7 → Year 8 and
    Year 8 → Year 9 never meet), log it as one event; returns the patrons moved."""
    if not mapping:
        return 0
    counts = dict(groups(conn))
    moved = conn.execute(
        "UPDATE Users SET GroupName = (SELECT value FROM json_each(:map) WHERE key = GroupName) "
        "WHERE GroupName IN (SELECT key FROM json_each(:map))",
        {"map": json.dumps(mapping)},
    ).rowcount
    detail = "; ".join(
        f"{old} → {new} ({counts.get(old, 0)})" for old, new in sorted(mapping.items())
    )
    events.log(conn, "groups_promoted", actor_id, detail=detail[:2000])
    return moved
