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
