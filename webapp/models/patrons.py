"""A patron as the rest of the app sees one: the one ``Patron`` type and the lookups that give it.

A patron is a row of Users: students, librarians and admins all borrow. The
desk finds one by card or email (``find_patron``), the desk panel and the patron
and copy pages show one (``webapp.models.records``), and the collection's
patron list and form edit one (``webapp.models.collection``); all of them use
this type. Plain functions of a connection, run with ``Database.read`` or
inside another model's transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

# Longer than any email address may be: nothing to look up.
MAX_LOOKUP_LENGTH = 254


@dataclass(frozen=True)
class Patron:
    """A row of Users as a borrower: who they are, how to reach them, whether they may borrow."""

    user_id: int
    name: str
    role: str
    email: str | None
    card_number: str | None
    group_name: str | None
    active: bool
    email_receipts: bool
    # Their patron category (PatronCategories): how they borrow, whatever their role.
    category_id: int | None = None
    category_name: str = ""
    # A parent's or guardian's address, copied on overdue reminders.
    guardian_email: str | None = None

    def form_values(self) -> dict:
        """What the patron form starts from when editing this patron."""
        return {
            "name": self.name,
            "email": self.email or "",
            "role": self.role,
            "card_number": self.card_number or "",
            "group": self.group_name or "",
            "active": self.active,
            "email_receipts": self.email_receipts,
            "category": str(self.category_id or ""),
            "guardian_email": self.guardian_email or "",
        }


def patron_from_row(row: sqlite3.Row) -> Patron:
    """The patron in a row of ``SELECT * FROM Users``."""
    return Patron(
        user_id=row["UserID"],
        name=row["Name"],
        role=row["Role"],
        email=row["Email"],
        card_number=row["CardNumber"],
        group_name=row["GroupName"],
        active=bool(row["Active"]),
        email_receipts=bool(row["EmailReceipts"]),
        category_id=row["CategoryID"],
        category_name=_category_name(row),
        guardian_email=row["GuardianEmail"],
    )


def _category_name(row: sqlite3.Row) -> str:
    """The category's name when the query joined it (as ``CategoryName``), else ""."""
    # sqlite3.Row's `in` looks at the values, not the column names.
    return row["CategoryName"] if "CategoryName" in row.keys() else ""  # noqa: SIM118


# A user with their category's name.
_WITH_CATEGORY = (
    "u.*, pc.Name AS CategoryName FROM Users u "
    "LEFT JOIN PatronCategories pc ON pc.CategoryID = u.CategoryID"
)


def get_patron(conn: sqlite3.Connection, user_id: int) -> Patron | None:
    """The patron with this id, or None."""
    row = conn.execute(f"SELECT {_WITH_CATEGORY} WHERE u.UserID = ?", (user_id,)).fetchone()
    return patron_from_row(row) if row else None


def find_patron(conn: sqlite3.Connection, text: str) -> Patron | None:
    """The patron whose card number or email is exactly ``text``, in any case.

    Cards, barcodes and emails cannot clash since migration 0006
    (``webapp.models.codes``); where a database still holds cards that differ
    only in case from before then, the one typed exactly wins, so a scan never
    picks a patron by the order of their rows.
    """
    text = text.strip()
    if not text or len(text) > MAX_LOOKUP_LENGTH:
        return None
    row = conn.execute(
        f"SELECT {_WITH_CATEGORY} WHERE u.CardNumber = :text COLLATE NOCASE OR u.Email = :text "
        "ORDER BY u.CardNumber IS :text DESC, u.UserID LIMIT 1",
        {"text": text},
    ).fetchone()
    return patron_from_row(row) if row else None
