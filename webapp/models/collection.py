"""Keeping the collection and the patron list: books, copies, patrons.

``check_book_form``, ``check_copy_form`` and ``check_patron_form`` are pure:
they turn what a librarian typed into values or a message per field. The
async functions write only after every check has passed, in one transaction,
so nothing is saved on error. Deleting is refused for anything with history
(loans, holds, logged events): withdrawing keeps that history instead.
A patron is the ``Patron`` of ``webapp.models.patrons``, the type the desk uses too.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

from webapp import shelf_marks, validation
from webapp.db import Database, Transaction
from webapp.models import codes
from webapp.models.patrons import Patron, patron_from_row

MAX_NEW_COPIES = 50
PATRONS_PER_PAGE = 50

Errors = dict[str, str]


def _check(form: Mapping[str, str], checks: dict) -> tuple[dict, Errors]:
    values: dict = {}
    errors: Errors = {}
    for name, check in checks.items():
        try:
            values[name] = check(form.get(name))
        except ValueError as error:
            errors[name] = str(error)
    return values, errors


def check_book_form(form: Mapping[str, str]) -> tuple[dict, Errors]:
    """A book's fields from a form, or a message for each field that is wrong."""
    return _check(
        form,
        {
            "title": lambda raw: validation.required_text(raw, 500),
            "author": lambda raw: validation.optional_text(raw, 500) or "",
            "isbn": validation.isbn,
            "series": lambda raw: validation.optional_text(raw, 300),
            "subjects": lambda raw: validation.optional_text(raw, 1000),
            "publisher": lambda raw: validation.optional_text(raw, 300),
            "year": validation.year,
            "language": lambda raw: validation.optional_text(raw, 20),
            "shelf_mark": shelf_marks.normalise,
            "pages": validation.page_count,
        },
    )


def _copy_count(raw: str | None) -> int:
    text = (raw or "").strip() or "0"
    if not text.isdecimal() or int(text) > MAX_NEW_COPIES:
        raise ValueError(f"Type a whole number from 0 to {MAX_NEW_COPIES}.")
    return int(text)


def _barcode_list(raw: str | None) -> list[str]:
    """Barcodes typed or scanned one per line (commas and spaces also separate them)."""
    typed = (raw or "").replace(",", " ").split()
    if len(typed) > MAX_NEW_COPIES:
        raise ValueError(f"Add at most {MAX_NEW_COPIES} copies at a time.")
    seen = set()
    for code in typed:
        validation.barcode(code)
        if code.casefold() in seen:
            raise ValueError(f"Barcode {code} is typed twice.")
        seen.add(code.casefold())
    return typed


def check_new_copies_form(form: Mapping[str, str]) -> tuple[dict, Errors]:
    """How many copies to add, their barcodes (any not typed are generated) and shelf."""
    values, errors = _check(
        form,
        {
            "copies": _copy_count,
            "barcodes": _barcode_list,
            "location": lambda raw: validation.optional_text(raw, 100),
            "item_type": validation.choice_id,
        },
    )
    if not errors and max(values["copies"], len(values["barcodes"])) > MAX_NEW_COPIES:
        errors["copies"] = f"Add at most {MAX_NEW_COPIES} copies at a time."
    return values, errors


def check_copy_form(form: Mapping[str, str]) -> tuple[dict, Errors]:
    return _check(
        form,
        {
            "status": validation.copy_status,
            "location": lambda raw: validation.optional_text(raw, 100),
            "item_type": validation.choice_id,
        },
    )


def check_patron_form(form: Mapping[str, str]) -> tuple[dict, Errors]:
    return _check(
        form,
        {
            "name": lambda raw: validation.required_text(raw, 200),
            "email": validation.email,
            "role": validation.role,
            "card_number": lambda raw: validation.optional_text(raw, 64),
            "group": lambda raw: validation.optional_text(raw, 100),
            "active": validation.flag,
            "email_receipts": validation.flag,
            "category": validation.choice_id,
            "guardian_email": validation.email,
        },
    )


def _barcode_prefix(raw: str | None) -> str:
    text = (raw or "").strip()
    if not re.fullmatch(r"[0-9A-Za-z._-]{0,20}", text):
        raise ValueError("A prefix is up to 20 letters, digits, dots, dashes or underscores.")
    return text


def _sequence_number(raw: str | None) -> int:
    text = (raw or "").strip()
    if not text.isdecimal() or len(text) > 12:
        raise ValueError("Type a whole number of up to 12 digits.")
    return int(text)


def check_barcode_sequence_form(form: Mapping[str, str]) -> tuple[dict, Errors]:
    """The prefix and next number of the barcodes the library generates for new copies."""
    return _check(form, {"barcode_prefix": _barcode_prefix, "barcode_next": _sequence_number})


async def barcode_sequence(db: Database) -> dict:
    rows = await db.fetch_all(
        "SELECT Key, Value FROM LibrarySettings WHERE Key IN ('barcode_prefix', 'barcode_next')"
    )
    return {row["Key"]: row["Value"] for row in rows}


async def set_barcode_sequence(db: Database, values: dict) -> None:
    """Save the sequence; raises ``Conflict`` when its next barcode is a patron's card."""
    async with db.transaction() as tx:
        code = f"{values['barcode_prefix']}{values['barcode_next']}"
        clash = codes.clash_message(
            "barcode", code, await tx.fetch_one(codes.CARD_OWNER, {"code": code, "user_id": 0})
        )
        if clash:
            raise Conflict("barcode_prefix", f"The next barcode would be {clash}")
        for key in ("barcode_prefix", "barcode_next"):
            await tx.execute(
                "UPDATE LibrarySettings SET Value = ? WHERE Key = ?", (str(values[key]), key)
            )


@dataclass(frozen=True)
class CopyRow:
    copy_id: int
    book_id: int
    barcode: str
    location: str | None
    status: str
    on_loan: bool
    item_type_id: int | None = None
    item_type: str = ""


class Conflict(Exception):
    """A value that must be unique is taken; ``field`` says which, ``other_id`` by what."""

    def __init__(self, field: str, message: str, other_id: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.other_id = other_id


async def book_with_isbn(db: Database | Transaction, isbn13: str, except_id: int = 0) -> int | None:
    return await db.fetch_value(
        "SELECT BookID FROM Books WHERE ISBN = ? AND BookID <> ?", (isbn13, except_id)
    )


async def _next_barcodes(tx: Transaction, count: int) -> list[str]:
    """Take ``count`` barcodes from the library's sequence, skipping any already in use
    (as a copy's barcode or a patron's card)."""
    rows = await tx.fetch_all(
        "SELECT Key, Value FROM LibrarySettings WHERE Key IN ('barcode_prefix', 'barcode_next')"
    )
    settings = {row["Key"]: row["Value"] for row in rows}
    prefix, number = settings["barcode_prefix"], int(settings["barcode_next"])
    generated: list[str] = []
    while len(generated) < count:
        code = f"{prefix}{number}"
        number += 1
        if not await tx.fetch_value(codes.CODE_TAKEN, {"code": code}):
            generated.append(code)
    await tx.execute(
        "UPDATE LibrarySettings SET Value = ? WHERE Key = 'barcode_next'", (str(number),)
    )
    return generated


async def _add_copies(tx: Transaction, book_id: int, copies: dict) -> list[str]:
    typed = copies["barcodes"]
    for code in typed:
        if await tx.fetch_value("SELECT 1 FROM Copies WHERE Barcode = ?", (code,)):
            raise Conflict("barcodes", f"Barcode {code} is already on another copy.")
        card = await tx.fetch_one(codes.CARD_OWNER, {"code": code, "user_id": 0})
        if card is not None:
            raise Conflict("barcodes", codes.clash_message("barcode", code, card))
    item_type = copies.get("item_type")
    await _check_item_type(tx, item_type, "item_type")
    generated = await _next_barcodes(tx, max(copies["copies"] - len(typed), 0))
    for code in [*typed, *generated]:
        # No item type given: the database gives the default (Book).
        await tx.execute(
            "INSERT INTO Copies (BookID, Barcode, Location, ItemTypeID) VALUES (?, ?, ?, ?)",
            (book_id, code, copies["location"], item_type),
        )
    return [*typed, *generated]


async def _check_item_type(tx: Transaction, item_type_id: int | None, field: str) -> None:
    if item_type_id is not None and not await tx.fetch_value(
        "SELECT 1 FROM ItemTypes WHERE ItemTypeID = ?", (item_type_id,)
    ):
        raise Conflict(field, "Choose one of the item types.")


async def create_book(db: Database, book: dict, copies: dict) -> int:
    """Add a book with its first copies; raises ``Conflict`` for a taken ISBN or barcode."""
    async with db.transaction() as tx:
        if book["isbn"]:
            other = await book_with_isbn(tx, book["isbn"])
            if other is not None:
                raise Conflict("isbn", "A book with this ISBN is already in the catalogue.", other)
        book_id = await tx.insert(
            "INSERT INTO Books (Title, Author, ISBN, Series, Subjects, Publisher, Year, Language, "
            "ShelfMark, Pages) VALUES (:title, :author, :isbn, :series, :subjects, :publisher, "
            ":year, :language, :shelf_mark, :pages)",
            book,
        )
        await _add_copies(tx, book_id, copies)
    return book_id


async def update_book(db: Database, book_id: int, book: dict) -> None:
    async with db.transaction() as tx:
        if book["isbn"]:
            other = await book_with_isbn(tx, book["isbn"], except_id=book_id)
            if other is not None:
                raise Conflict("isbn", "Another book already has this ISBN.", other)
        await tx.execute(
            "UPDATE Books SET Title = :title, Author = :author, ISBN = :isbn, Series = :series, "
            "Subjects = :subjects, Publisher = :publisher, Year = :year, Language = :language, "
            "ShelfMark = :shelf_mark, Pages = :pages WHERE BookID = :book_id",
            {**book, "book_id": book_id},
        )


async def add_copies(db: Database, book_id: int, copies: dict) -> list[str]:
    """Add copies to a book; returns their barcodes. Raises ``Conflict`` for a taken barcode."""
    async with db.transaction() as tx:
        return await _add_copies(tx, book_id, copies)


async def withdraw_book(db: Database, book_id: int, actor_id: int) -> None:
    """Take a title out of the collection; its copies not out on loan are withdrawn with it.

    Loans, holds and events stay as they were: a copy out on loan comes back
    as usual and is then withdrawn by hand (or kept, if the title returns).
    """
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE Books SET WithdrawnAt = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') "
            "WHERE BookID = ? AND WithdrawnAt IS NULL",
            (book_id,),
        )
        await tx.execute(
            "UPDATE Copies SET Status = 'withdrawn' WHERE BookID = ? AND Status = 'in_stock' "
            "AND CopyID NOT IN (SELECT CopyID FROM Loans WHERE ReturnedAt IS NULL)",
            (book_id,),
        )
        await tx.execute(
            "INSERT INTO Events (Kind, ActorID, BookID) VALUES ('book_withdrawn', ?, ?)",
            (actor_id, book_id),
        )


async def reinstate_book(db: Database, book_id: int) -> None:
    async with db.transaction() as tx:
        await tx.execute("UPDATE Books SET WithdrawnAt = NULL WHERE BookID = ?", (book_id,))


_BOOK_HISTORY = """
    SELECT (SELECT count(*) FROM Loans WHERE BookID = :id) AS Loans,
           (SELECT count(*) FROM Holds WHERE BookID = :id) AS Holds,
           (SELECT count(*) FROM Events WHERE BookID = :id
              OR CopyID IN (SELECT CopyID FROM Copies WHERE BookID = :id)) AS Events
"""


def _history_reason(what: str, row) -> str | None:
    if row["Loans"]:
        return (
            f"This {what} has {row['Loans']} loan{'s' if row['Loans'] != 1 else ''} "
            f"in its history, which must be kept. Withdraw it instead."
        )
    if row["Holds"]:
        return f"This {what} has holds in its history, which must be kept. Withdraw it instead."
    if row["Events"]:
        return f"This {what} has logged events, which must be kept. Withdraw it instead."
    return None


async def delete_book(db: Database, book_id: int) -> str | None:
    """Delete a book and its copies; returns the reason when refused (it has history)."""
    async with db.transaction() as tx:
        reason = _history_reason("book", await tx.fetch_one(_BOOK_HISTORY, {"id": book_id}))
        if reason:
            return reason
        await tx.execute("DELETE FROM Copies WHERE BookID = ?", (book_id,))
        await tx.execute("DELETE FROM Books WHERE BookID = ?", (book_id,))
    return None


async def copies_for_editing(db: Database, book_id: int) -> list[CopyRow]:
    rows = await db.fetch_all(
        "SELECT c.*, l.LoanID IS NOT NULL AS OnLoan, it.Name AS ItemType FROM Copies c "
        "LEFT JOIN Loans l ON l.CopyID = c.CopyID AND l.ReturnedAt IS NULL "
        "LEFT JOIN ItemTypes it ON it.ItemTypeID = c.ItemTypeID "
        "WHERE c.BookID = ? ORDER BY c.CopyID",
        (book_id,),
    )
    return [_copy(row) for row in rows]


def _copy(row) -> CopyRow:
    return CopyRow(
        row["CopyID"],
        row["BookID"],
        row["Barcode"],
        row["Location"],
        row["Status"],
        bool(row["OnLoan"]),
        row["ItemTypeID"],
        row["ItemType"] or "",
    )


async def get_copy(db: Database, copy_id: int) -> CopyRow | None:
    row = await db.fetch_one(
        "SELECT c.*, l.LoanID IS NOT NULL AS OnLoan, it.Name AS ItemType FROM Copies c "
        "LEFT JOIN Loans l ON l.CopyID = c.CopyID AND l.ReturnedAt IS NULL "
        "LEFT JOIN ItemTypes it ON it.ItemTypeID = c.ItemTypeID WHERE c.CopyID = ?",
        (copy_id,),
    )
    return _copy(row) if row else None


async def update_copy(db: Database, copy: CopyRow, values: dict, actor_id: int) -> None:
    """Change a copy's shelf, status or item type; a status change is logged as an event.

    Raises Conflict when the item type does not exist (any more)."""
    async with db.transaction() as tx:
        await _check_item_type(tx, values.get("item_type"), "item_type")
        await tx.execute(
            "UPDATE Copies SET Status = ?, Location = ?, ItemTypeID = coalesce(?, ItemTypeID) "
            "WHERE CopyID = ?",
            (values["status"], values["location"], values.get("item_type"), copy.copy_id),
        )
        if values["status"] != copy.status:
            await tx.execute(
                "INSERT INTO Events (Kind, ActorID, BookID, CopyID, Detail) "
                "VALUES ('copy_status', ?, ?, ?, ?)",
                (actor_id, copy.book_id, copy.copy_id, f"{copy.status} -> {values['status']}"),
            )


async def delete_copy(db: Database, copy_id: int) -> str | None:
    async with db.transaction() as tx:
        row = await tx.fetch_one(
            "SELECT (SELECT count(*) FROM Loans WHERE CopyID = :id) AS Loans, "
            "(SELECT count(*) FROM Holds WHERE CopyID = :id) AS Holds, "
            "(SELECT count(*) FROM Events WHERE CopyID = :id) AS Events",
            {"id": copy_id},
        )
        reason = _history_reason("copy", row)
        if reason:
            return reason.replace("Withdraw it", "Mark it withdrawn or lost")
        await tx.execute("DELETE FROM Copies WHERE CopyID = ?", (copy_id,))
    return None


@dataclass(frozen=True)
class PatronPage:
    patrons: list[Patron]
    total: int
    page: int

    @property
    def has_more(self) -> bool:
        return self.page * PATRONS_PER_PAGE < self.total


async def find_patrons(db: Database, text: str, page: int = 1) -> PatronPage:
    """Patrons whose name, email, card number or group contains ``text``, by name."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    where = (
        "WHERE Name LIKE :p ESCAPE '\\' OR Email LIKE :p ESCAPE '\\' "
        "OR CardNumber LIKE :p ESCAPE '\\' OR GroupName LIKE :p ESCAPE '\\'"
    )
    params = {"p": pattern, "limit": PATRONS_PER_PAGE, "offset": (page - 1) * PATRONS_PER_PAGE}
    total = await db.fetch_value(f"SELECT count(*) FROM Users {where}", params)
    rows = await db.fetch_all(
        f"SELECT * FROM Users {where} ORDER BY Name COLLATE NOCASE, UserID "
        "LIMIT :limit OFFSET :offset",
        params,
    )
    return PatronPage([patron_from_row(row) for row in rows], total, page)


async def _check_patron_unique(tx: Transaction, values: dict, user_id: int) -> None:
    # Only a changed card or email is checked against the other codes: one that clashed
    # before migration 0006 stays until staff change it, as the database's triggers allow.
    current = await tx.fetch_one("SELECT Email, CardNumber FROM Users WHERE UserID = ?", (user_id,))
    category = values.get("category")
    if category is not None and not await tx.fetch_value(
        "SELECT 1 FROM PatronCategories WHERE CategoryID = ?", (category,)
    ):
        raise Conflict("category", "Choose one of the patron categories.")
    if values["email"]:
        other = await tx.fetch_value(
            "SELECT UserID FROM Users WHERE Email = ? AND UserID <> ?", (values["email"], user_id)
        )
        if other is not None:
            raise Conflict("email", "Another patron already has this email address.", other)
        if current is None or values["email"] != current["Email"]:
            card = await tx.fetch_one(
                codes.CARD_OWNER, {"code": values["email"], "user_id": user_id}
            )
            if card is not None:
                raise Conflict("email", codes.clash_message("email", values["email"], card))
    if values["card_number"] and (
        current is None or values["card_number"] != current["CardNumber"]
    ):
        clash = await tx.fetch_one(
            codes.CARD_CLASH, {"code": values["card_number"], "user_id": user_id}
        )
        if clash is not None:
            raise Conflict("card_number", codes.clash_message("card", values["card_number"], clash))


# A new patron without a category gets their role's (the database's Users_DefaultCategory).
_PATRON_PARAMS = (
    "(:name, :role, :email, :card_number, :group, :active, :email_receipts, :category, "
    ":guardian_email)"
)


async def create_patron(db: Database, values: dict) -> int:
    async with db.transaction() as tx:
        await _check_patron_unique(tx, values, 0)
        return await tx.insert(
            "INSERT INTO Users (Name, Role, Email, CardNumber, GroupName, Active, EmailReceipts, "
            f"CategoryID, GuardianEmail) VALUES {_PATRON_PARAMS}",
            {
                "category": None,
                **values,
                "active": int(values["active"]),
                "email_receipts": int(values["email_receipts"]),
            },
        )


async def update_patron(db: Database, user_id: int, values: dict) -> None:
    async with db.transaction() as tx:
        await _check_patron_unique(tx, values, user_id)
        await tx.execute(
            "UPDATE Users SET Name = :name, Role = :role, Email = :email, "
            "CardNumber = :card_number, GroupName = :group, Active = :active, "
            "EmailReceipts = :email_receipts, CategoryID = coalesce(:category, CategoryID), "
            "GuardianEmail = :guardian_email WHERE UserID = :user_id",
            {
                "category": None,
                **values,
                "active": int(values["active"]),
                "email_receipts": int(values["email_receipts"]),
                "user_id": user_id,
            },
        )
        if not values["active"]:
            await tx.execute("DELETE FROM Sessions WHERE UserID = ?", (user_id,))


async def delete_patron(db: Database, user_id: int) -> str | None:
    """Delete a patron with no history; returns the reason when refused."""
    async with db.transaction() as tx:
        row = await tx.fetch_one(
            "SELECT (SELECT count(*) FROM Loans WHERE UserID = :id OR LentBy = :id) AS Loans, "
            "(SELECT count(*) FROM Holds WHERE UserID = :id) AS Holds, "
            "(SELECT count(*) FROM Events WHERE UserID = :id OR ActorID = :id) "
            " + (SELECT count(*) FROM Outbox WHERE UserID = :id) AS Events",
            {"id": user_id},
        )
        reason = _history_reason("patron", row)
        if reason:
            return reason.replace("Withdraw it instead", "Mark the patron inactive instead")
        try:
            await tx.execute("DELETE FROM Users WHERE UserID = ?", (user_id,))
        except sqlite3.IntegrityError:
            return "This patron is still referred to elsewhere. Mark the patron inactive instead."
    return None
