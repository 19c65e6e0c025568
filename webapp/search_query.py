"""Turning what a user typed into a safe FTS5 query. Pure functions, no database.

User text is never passed raw to MATCH: FTS5 has its own syntax (quotes, ``*``,
``-``, ``:``, ``^``, parentheses, AND/OR/NOT/NEAR) and would raise a syntax
error or change meaning. Each whitespace-separated word is quoted as an FTS5
string (inner ``"`` doubled) and gets a ``*`` outside the quotes, so every word
matches as a prefix while the user is still typing it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from stdnum import isbn as stdnum_isbn

MAX_QUERY_CHARS = 200
MAX_TERMS = 12

# Words in most titles. Requiring one that the user has finished typing (any
# word but the last) narrows almost nothing, yet makes FTS5 walk a doclist of
# most of the catalogue: ``lord of the r`` reads "of" and "the" for ~400k
# titles each at a million. So they are left out of the MATCH when other words
# remain; ranking still rewards titles that contain them in order.
COMMON_WORDS = frozenset(
    {"a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with"}
)

# FTS5's unicode61 tokenizer treats letters, numbers and private-use characters
# as parts of words and everything else as separators; a chunk with none of
# those would quote to an empty phrase, which FTS5 rejects.
_WORD_CHARACTER_CATEGORIES = ("L", "N", "Co")


def _has_word_character(chunk: str) -> bool:
    return any(unicodedata.category(ch).startswith(_WORD_CHARACTER_CATEGORIES) for ch in chunk)


@dataclass(frozen=True)
class SearchQuery:
    """A parsed search: the words to match and, when the text is one, an ISBN-13."""

    text: str
    terms: tuple[str, ...]
    isbn13: str | None = None

    @property
    def is_empty(self) -> bool:
        return not self.terms

    @property
    def required_terms(self) -> tuple[str, ...]:
        """The distinct terms a match must contain: finished common words are left
        out (see ``COMMON_WORDS``) unless nothing else would be left."""
        *finished, last = self.terms
        required = [term for term in finished if term not in COMMON_WORDS] + [last]
        if len(required) == 1 and finished and last in COMMON_WORDS:
            required = list(self.terms)
        return tuple(dict.fromkeys(required))

    def match_expression(self) -> str:
        """The FTS5 MATCH expression: every required term quoted and matched as a prefix."""
        return " AND ".join(
            f'"{term.replace(chr(34), chr(34) * 2)}"*' for term in self.required_terms
        )


def normalise_isbn(text: str) -> str | None:
    """The ISBN-13 digits for a valid ISBN-10 or ISBN-13 (hyphens, spaces allowed), else None."""
    compact = re.sub(r"[\s-]", "", text)
    if not re.fullmatch(r"\d{9}[\dXx]|\d{13}", compact):
        return None
    if not stdnum_isbn.is_valid(compact):
        return None
    return stdnum_isbn.to_isbn13(compact)


def format_isbn(isbn13: str | None) -> str:
    """An ISBN-13 hyphenated for display, or '' when there is none."""
    if not isbn13:
        return ""
    try:
        return stdnum_isbn.format(isbn13)
    except Exception:
        return isbn13


def parse(text: str | None) -> SearchQuery:
    """Parse raw user input into a ``SearchQuery``; never raises for any input."""
    cleaned = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Cs") else ch for ch in text or ""
    )
    cleaned = cleaned.strip()[:MAX_QUERY_CHARS]
    chunks = [chunk for chunk in cleaned.split() if _has_word_character(chunk)]
    terms = tuple(chunk.lower() for chunk in chunks[:MAX_TERMS])
    return SearchQuery(text=cleaned, terms=terms, isbn13=normalise_isbn(cleaned))


# How results may be ordered (``sort=``); relevance is the default.
SORTS = {
    "relevance": "Best match",
    "title": "Title",
    "author": "Author",
    "newest": "Newest",
    "popular": "Most borrowed",
}
FILTER_PARAMETERS = ("available", "language", "item_type", "year_from", "year_to", "sort")
YEAR_RANGE = (-3000, 2200)
# Item type names are at most 40 characters (the admin form's limit).
MAX_ITEM_TYPE_CHARS = 40
MAX_LANGUAGE_CHARS = 20


class BadFilter(ValueError):
    """A filter or sort a reader could not have meant; the message says what is wrong."""


@dataclass(frozen=True)
class SearchFilters:
    """What narrows and orders a search, from the URL's GET parameters so a
    filtered search can be shared and works without JavaScript."""

    available: bool = False
    language: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    sort: str = "relevance"
    # An item type by name ("DVD"): titles with a copy of that type.
    item_type: str | None = None

    @property
    def narrows(self) -> bool:
        """Whether any filter leaves books out (the sort does not)."""
        return (
            self.available
            or self.language is not None
            or self.year_from is not None
            or self.year_to is not None
            or self.item_type is not None
        )

    def params(self) -> dict[str, str]:
        """The GET parameters that give these filters back (none for defaults)."""
        found: dict[str, str] = {}
        if self.available:
            found["available"] = "1"
        if self.language:
            found["language"] = self.language
        if self.year_from is not None:
            found["year_from"] = str(self.year_from)
        if self.year_to is not None:
            found["year_to"] = str(self.year_to)
        if self.item_type:
            found["item_type"] = self.item_type
        if self.sort != "relevance":
            found["sort"] = self.sort
        return found


def _year(raw: str | None, label: str) -> int | None:
    text = (raw or "").strip()
    if not text:
        return None
    if not re.fullmatch(r"-?\d{1,4}", text):
        raise BadFilter(f"The {label} year must be a year such as 1997.")
    year = int(text)
    if not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
        raise BadFilter(f"The {label} year must be between {YEAR_RANGE[0]} and {YEAR_RANGE[1]}.")
    return year


def parse_filters(args: Mapping[str, str]) -> SearchFilters:
    """The filters and sort in a search URL's parameters; raises ``BadFilter``."""
    sort = (args.get("sort") or "relevance").strip() or "relevance"
    if sort not in SORTS:
        raise BadFilter(f"Results can be sorted by {', '.join(SORTS)}; not by “{sort}”.")
    language = (args.get("language") or "").strip() or None
    if language is not None and (
        len(language) > MAX_LANGUAGE_CHARS or not _has_word_character(language)
    ):
        raise BadFilter("That is not a language code (such as eng or fr).")
    year_from = _year(args.get("year_from"), "first")
    year_to = _year(args.get("year_to"), "last")
    if year_from is not None and year_to is not None and year_from > year_to:
        raise BadFilter("The first year must not be after the last year.")
    available = (args.get("available") or "").strip().lower() in ("1", "on", "true", "yes")
    item_type = (args.get("item_type") or "").strip() or None
    if item_type is not None and (
        len(item_type) > MAX_ITEM_TYPE_CHARS or not _has_word_character(item_type)
    ):
        raise BadFilter("That is not the name of an item type (such as Book or DVD).")
    return SearchFilters(available, language, year_from, year_to, sort, item_type)


NO_FILTERS = SearchFilters()
