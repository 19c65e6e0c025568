"""Checks for what librarians type or import: pure functions, one clear message each.

Each checker returns the normalised value or raises ``ValueError`` with a
message that names no field (the caller knows which field it checked), so the
forms and the importers say the same thing about the same mistake.
"""

from __future__ import annotations

import re

from webapp.importing.books import clean_text
from webapp.rules import ROLES
from webapp.search_query import normalise_isbn

COPY_STATUSES = {"in_stock": "On the shelf", "withdrawn": "Withdrawn", "lost": "Lost"}

# Deliberately loose: one @, something before it, a dot in the domain, no
# spaces. Whether the address exists is for the mail server to say.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_BARCODE = re.compile(r"^[0-9A-Za-z._-]{1,64}$")


def required_text(raw: str | None, limit: int) -> str:
    text = clean_text(raw, limit)
    if text is None:
        raise ValueError("This is required.")
    return text


def optional_text(raw: str | None, limit: int) -> str | None:
    return clean_text(raw, limit)


def isbn(raw: str | None) -> str | None:
    """The ISBN-13 digits of an ISBN-10 or ISBN-13 (hyphens or spaces allowed), or None if empty."""
    text = (raw or "").strip()
    if not text:
        return None
    normalised = normalise_isbn(text)
    if normalised is None:
        raise ValueError(
            f"{text[:40]!r} is not a valid ISBN: type the 10 or 13 digits from the back cover "
            "(hyphens and spaces are fine)."
        )
    return normalised


def year(raw: str | None) -> int | None:
    text = (raw or "").strip()
    if not text:
        return None
    if not re.fullmatch(r"-?\d{1,4}", text):
        raise ValueError("Type the year as a number, like 2008.")
    value = int(text)
    if not -3000 <= value <= 2200:
        raise ValueError("The year must be between -3000 and 2200.")
    return value


def page_count(raw: str | None) -> int | None:
    text = (raw or "").strip()
    if not text:
        return None
    if not text.isdecimal() or not 1 <= int(text) <= 100_000:
        raise ValueError("Type the number of pages as a whole number, like 320.")
    return int(text)


def email(raw: str | None) -> str | None:
    text = (raw or "").strip()
    if not text:
        return None
    if len(text) > 254 or not _EMAIL.match(text):
        raise ValueError("Type an email address like name@example.org.")
    return text


def barcode(raw: str | None) -> str | None:
    text = (raw or "").strip()
    if not text:
        return None
    if not _BARCODE.match(text):
        raise ValueError("A barcode is 1–64 letters, digits, dots, dashes or underscores.")
    return text


def role(raw: str | None) -> str:
    text = (raw or "").strip().capitalize()
    if text not in ROLES:
        raise ValueError(f"Choose one of {', '.join(ROLES)}.")
    return text


def copy_status(raw: str | None) -> str:
    text = (raw or "").strip()
    if text not in COPY_STATUSES:
        raise ValueError("Choose on the shelf, withdrawn or lost.")
    return text


def choice_id(raw: str | None) -> int | None:
    """The id of an item chosen from a list (an item type, a patron category); None if blank.
    Whether the id exists is the database's to say, in the transaction that uses it."""
    text = (raw or "").strip()
    if not text:
        return None
    if not text.isdecimal() or len(text) > 9:
        raise ValueError("Choose one from the list.")
    return int(text)


def flag(raw: str | None) -> bool:
    """A yes/no cell or checkbox: empty, 0, no, false and off are no."""
    return (raw or "").strip().lower() not in ("", "0", "no", "false", "off", "n")
