"""Shelf marks (call numbers): suggested from a book's record, checked when typed.

A shelf mark is a class and the first letters of the author's surname: a Dewey
number for non-fiction (``823.914 TOL``), a fiction prefix for stories
(``FIC ROW``). Marks are kept in one normal form (upper case, single spaces,
a Dewey number with three digits before the point) so that the plain text order
of the column is the order of the shelves: numbers before letters, 005 before
500 before 823.914. Pure functions: no database.
"""

from __future__ import annotations

import re
import unicodedata

FICTION_PREFIX = "FIC"
MAX_LENGTH = 40
_ALLOWED = re.compile(r"^[0-9A-Z .\-/]{1,40}$")
_DEWEY = re.compile(r"^(\d{1,3})(?:\.(\d+))?")


def _ascii_letters(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z]", "", folded).upper()


def author_letters(author: str | None) -> str:
    """The first three letters of the first author's surname ("Roald Dahl, Quentin Blake": DAH).

    Authors are kept as "First Last"; a name typed "Last, First" is ambiguous with a
    list of two authors, so the last word of the first name before a comma is taken.
    """
    first = (author or "").split(",")[0].split()
    return _ascii_letters(first[-1])[:3] if first else ""


def _dewey(raw: str | None) -> str | None:
    """A Dewey number as classifiers write it ("823/.914", "823.914 22") in normal form."""
    match = _DEWEY.match((raw or "").replace("/", "").replace("'", "").strip())
    if match is None:
        return None
    whole, fraction = match.groups()
    return f"{int(whole):03d}" + (f".{fraction[:6]}" if fraction else "")


def _is_fiction(subjects: str | None) -> bool:
    words = (subjects or "").casefold()
    cleaned = words.replace("non-fiction", "").replace("nonfiction", "")
    return "fiction" in cleaned or "novel" in cleaned or "stories" in cleaned


def suggest(dewey: str | None, subjects: str | None, author: str | None) -> str | None:
    """A shelf mark for a record: fiction by its subjects, else its Dewey number, then
    the author's letters. None when the record says neither."""
    letters = author_letters(author)
    number = _dewey(dewey)
    if _is_fiction(subjects) and (number is None or number.startswith("8")):
        stem = FICTION_PREFIX
    elif number is not None:
        stem = number
    else:
        return None
    return f"{stem} {letters}".strip()


def normalise(raw: str | None) -> str | None:
    """A typed shelf mark in normal form, None if empty; ``ValueError`` with a message
    if it holds anything a spine label cannot show."""
    text = " ".join((raw or "").split()).upper()
    if not text:
        return None
    if not _ALLOWED.match(text):
        raise ValueError(
            f"A shelf mark is up to {MAX_LENGTH} letters, digits, spaces, dots, dashes or "
            "slashes, like FIC ROW or 823.914 TOL."
        )
    head, _, rest = text.partition(" ")
    number = _dewey(head) if re.fullmatch(r"\d{1,3}(\.\d+)?", head) else None
    if number is not None:
        text = f"{number} {rest}".strip()
    return text[:MAX_LENGTH]
