"""The codes scanned at the desk: card numbers, copy barcodes and email addresses.

One scan box takes all three, so no code may mean two things, whatever its
case: a card equal to a copy's barcode would make the copy unscannable, and
cards ``s0001`` and ``S0001`` would be two patrons to the database but one to
a scanner. The database refuses such a write (migration 0007's triggers); the
forms and importers ask first, with the queries here, so they can say which
patron or copy already has the code instead of failing on the trigger.

The ``*_CLASH`` queries are plain SQL with named parameters (``code``,
``user_id``: the patron being edited, 0 for a new one), each returning at most
one row of (Kind, Owner); ``clash_message`` puts the row into words. The
async forms run them with ``Transaction.fetch_one``, the importers with a
``sqlite3`` connection. ``existing_clashes`` lists what a database held before
the rule existed (the migration guards new writes only, see docs/desk.md).
"""

from __future__ import annotations

import sqlite3
from typing import overload

# What already uses ``code`` that a card number may not equal.
CARD_CLASH = """
    SELECT 'card' AS Kind, Name AS Owner FROM Users
    WHERE CardNumber = :code COLLATE NOCASE AND UserID <> :user_id
    UNION ALL
    SELECT 'barcode', b.Title FROM Copies c JOIN Books b ON b.BookID = c.BookID
    WHERE c.Barcode = :code COLLATE NOCASE
    UNION ALL
    SELECT 'email', Name FROM Users WHERE Email = :code COLLATE NOCASE AND UserID <> :user_id
    LIMIT 1
"""

# A card that an email address or a copy barcode may not equal (no barcode holds an @).
CARD_OWNER = """
    SELECT 'card' AS Kind, Name AS Owner FROM Users
    WHERE CardNumber = :code COLLATE NOCASE AND UserID <> :user_id
    LIMIT 1
"""

# Whether a generated barcode is free: no copy has it and no card is it.
CODE_TAKEN = """
    SELECT 1 FROM Copies WHERE Barcode = :code COLLATE NOCASE
    UNION ALL
    SELECT 1 FROM Users WHERE CardNumber = :code COLLATE NOCASE
    LIMIT 1
"""


@overload
def clash_message(what: str, code: str, row: sqlite3.Row) -> str: ...
@overload
def clash_message(what: str, code: str, row: None) -> None: ...
@overload
def clash_message(what: str, code: str, row: sqlite3.Row | None) -> str | None: ...
def clash_message(what: str, code: str, row: sqlite3.Row | None) -> str | None:
    """Why ``code`` cannot be a ``what`` ("card", "barcode" or "email"), naming who or what
    already has it; None when ``row`` (a ``*_CLASH`` answer) is None."""
    if row is None:
        return None
    kind, owner = row["Kind"], row["Owner"]
    if kind == "card" and what == "card":
        return (
            f"Another patron already has this card number. {code} is {owner}'s card "
            "(card numbers match whatever the case)."
        )
    if kind == "card":
        return f"{code} is {owner}'s card number: a {_NAMES[what]} cannot be a card number."
    if kind == "barcode":
        return (
            f"{code} is the barcode of a copy of {owner}: a card number cannot be a copy's barcode."
        )
    return f"{code} is {owner}'s email address: a card number cannot be an email address."


_NAMES = {"card": "card number", "barcode": "copy's barcode", "email": "email address"}


def card_clash(conn: sqlite3.Connection, card: str, user_id: int = 0) -> str | None:
    """Why ``card`` cannot be patron ``user_id``'s card number (0: a new patron), or None."""
    row = conn.execute(CARD_CLASH, {"code": card, "user_id": user_id}).fetchone()
    return clash_message("card", card, row)


def email_clash(conn: sqlite3.Connection, email: str, user_id: int = 0) -> str | None:
    """Why ``email`` cannot be patron ``user_id``'s address because it is a card, or None."""
    row = conn.execute(CARD_OWNER, {"code": email, "user_id": user_id}).fetchone()
    return clash_message("email", email, row)


def barcode_clash(conn: sqlite3.Connection, barcode: str) -> str | None:
    """Why ``barcode`` cannot be a new copy's barcode because it is a card, or None."""
    row = conn.execute(CARD_OWNER, {"code": barcode, "user_id": 0}).fetchone()
    return clash_message("barcode", barcode, row)


def code_taken(conn: sqlite3.Connection, code: str) -> bool:
    """Whether a barcode the library would generate is already a copy's barcode or a card."""
    return conn.execute(CODE_TAKEN, {"code": code}).fetchone() is not None


def existing_clashes(conn: sqlite3.Connection, limit: int = 100) -> list[str]:
    """Clashes left from before migration 0007, in words, for staff to resolve by hand:
    cards equal whatever the case, cards that are a copy's barcode or another's email."""
    rows = conn.execute(
        """
        SELECT a.CardNumber AS Code, a.Name AS Patron, 'card of ' || b.Name AS Other
        FROM Users a JOIN Users b
          ON b.CardNumber = a.CardNumber COLLATE NOCASE AND b.UserID > a.UserID
        UNION ALL
        SELECT u.CardNumber, u.Name, 'barcode of a copy of ' || bk.Title
        FROM Users u JOIN Copies c ON c.Barcode = u.CardNumber COLLATE NOCASE
        JOIN Books bk ON bk.BookID = c.BookID
        UNION ALL
        SELECT a.CardNumber, a.Name, 'email of ' || b.Name
        FROM Users a JOIN Users b ON b.Email = a.CardNumber COLLATE NOCASE AND b.UserID <> a.UserID
        LIMIT ?
        """,
        (limit,),
    )
    return [f"{row['Patron']}'s card {row['Code']} is also the {row['Other']}." for row in rows]
