"""Looking a book up by its ISBN: Open Library's Books API, then optionally Google Books.

A librarian is waiting at the "New book" form, so a lookup never takes longer
than ``Settings.isbn_lookup_timeout`` (2.5 s by default) whatever the network
does: every request has that timeout, and the whole lookup, both sources
together, is cut off at the same budget. Anything short of a readable answer
(no connection, a timeout, a 5xx, a body that is not the JSON the API
documents) is "unreachable", and the form opens to be filled in by hand.

Answers are kept in memory (``LookupCache``): a book found for a day, "not
found" for an hour, so a box of twenty copies of one title asks once, while a
service that was unreachable is asked again next time.

The parsers (``parse_openlibrary``, ``parse_google_books``) are pure and read
the documented formats: Open Library's ``/api/books?bibkeys=ISBN:…&jscmd=details
&format=json`` (an object keyed by bibkey, ``{}`` when unknown) and Google
Books' ``/volumes?q=isbn:…`` (``totalItems`` and ``items[].volumeInfo``).
"""

from __future__ import annotations

import asyncio
import enum
import json
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx2

from webapp.config import Settings

FOUND_FOR = 24 * 3600.0
NOT_FOUND_FOR = 3600.0
CACHE_ENTRIES = 2000
# A cover is fetched in the background after the book is saved, so it may take longer.
COVER_TIMEOUT = 10.0
MAX_COVER_BYTES = 8 * 1024 * 1024


class Outcome(enum.Enum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class BookRecord:
    """What a source knows about an edition, in the catalogue's own fields."""

    isbn13: str
    title: str
    author: str = ""
    publisher: str | None = None
    year: int | None = None
    language: str | None = None
    subjects: str | None = None
    series: str | None = None
    pages: int | None = None
    dewey: str | None = None
    source: str = "Open Library"


@dataclass(frozen=True)
class LookupResult:
    isbn13: str
    outcome: Outcome
    record: BookRecord | None = None

    @property
    def message(self) -> str:
        """What the librarian reads above the form."""
        if self.outcome is Outcome.FOUND and self.record is not None:
            return f"Found in {self.record.source}: check the details, then save."
        if self.outcome is Outcome.NOT_FOUND:
            return "No record was found for this ISBN: fill it in by hand."
        return "The book service could not be reached: fill it in by hand."


class Malformed(ValueError):
    """An answer that is not in the format the API documents."""


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = " ".join(value.split())
    return cleaned[:limit] if cleaned else None


def _texts(values: Any, limit: int, key: str | None = None) -> list[str]:
    """Strings from a list of strings (or of objects with ``key``), blanks dropped."""
    if not isinstance(values, list):
        return []
    found = []
    for value in values:
        item = value.get(key) if key and isinstance(value, Mapping) else value
        text = _text(item, limit)
        if text and text not in found:
            found.append(text)
    return found


def _year(value: Any) -> int | None:
    """The year in a free-text date ("October 1, 1988", "1988-10", "c1988")."""
    if isinstance(value, int) and 0 < value < 2200:
        return value
    years = re.findall(r"(?<!\d)(\d{4})(?!\d)", value) if isinstance(value, str) else []
    return int(years[0]) if years else None


def _pages(value: Any) -> int | None:
    return value if isinstance(value, int) and 0 < value <= 100_000 else None


def _joined(parts: list[str], separator: str, limit: int) -> str | None:
    return separator.join(parts)[:limit] or None


def _title(title: Any, subtitle: Any) -> str | None:
    main = _text(title, 500)
    extra = _text(subtitle, 500)
    if main and extra:
        return f"{main}: {extra}"[:500]
    return main


def parse_openlibrary(body: Any, isbn13: str) -> BookRecord | None:
    """The record in a Books API answer (``jscmd=details``), or None when it holds none."""
    if not isinstance(body, Mapping):
        raise Malformed("the answer is not a JSON object")
    if not body:
        return None
    entry = next(iter(body.values()))
    details = entry.get("details") if isinstance(entry, Mapping) else None
    if not isinstance(details, Mapping):
        raise Malformed("the entry has no details")
    title = _title(details.get("title"), details.get("subtitle"))
    if title is None:
        return None
    languages = [key.rsplit("/", 1)[-1] for key in _texts(details.get("languages"), 40, key="key")]
    dewey = _texts(details.get("dewey_decimal_class"), 40)
    return BookRecord(
        isbn13=isbn13,
        title=title,
        author=_joined(_texts(details.get("authors"), 200, key="name"), ", ", 500) or "",
        publisher=_joined(_texts(details.get("publishers"), 300), ", ", 300),
        year=_year(details.get("publish_date")),
        language=languages[0][:20] if languages else None,
        subjects=_joined(_texts(details.get("subjects"), 200), "; ", 1000),
        series=_joined(_texts(details.get("series"), 300), "; ", 300),
        pages=_pages(details.get("number_of_pages")),
        dewey=dewey[0] if dewey else None,
        source="Open Library",
    )


def parse_google_books(body: Any, isbn13: str) -> BookRecord | None:
    """The first volume of a Google Books ``volumes?q=isbn:…`` answer, or None."""
    if not isinstance(body, Mapping):
        raise Malformed("the answer is not a JSON object")
    items = body.get("items") or []
    if not isinstance(items, list):
        raise Malformed("items is not a list")
    for item in items:
        info = item.get("volumeInfo") if isinstance(item, Mapping) else None
        if not isinstance(info, Mapping):
            continue
        title = _title(info.get("title"), info.get("subtitle"))
        if title is None:
            continue
        return BookRecord(
            isbn13=isbn13,
            title=title,
            author=_joined(_texts(info.get("authors"), 200), ", ", 500) or "",
            publisher=_text(info.get("publisher"), 300),
            year=_year(info.get("publishedDate")),
            language=_text(info.get("language"), 20),
            subjects=_joined(_texts(info.get("categories"), 200), "; ", 1000),
            pages=_pages(info.get("pageCount")),
            source="Google Books",
        )
    return None


class LookupCache:
    """Recent answers by ISBN, each kept for its own time; the oldest go first when full."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self._entries = entries
        self._kept: OrderedDict[str, tuple[float, LookupResult]] = OrderedDict()

    def get(self, isbn13: str, now: float) -> LookupResult | None:
        kept = self._kept.get(isbn13)
        if kept is None or kept[0] <= now:
            return None
        return kept[1]

    def keep(self, result: LookupResult, now: float) -> None:
        if result.outcome is Outcome.FOUND:
            lasts = FOUND_FOR
        elif result.outcome is Outcome.NOT_FOUND:
            lasts = NOT_FOUND_FOR
        else:
            return
        self._kept[result.isbn13] = (now + lasts, result)
        self._kept.move_to_end(result.isbn13)
        while len(self._kept) > self._entries:
            self._kept.popitem(last=False)


class IsbnLookup:
    """The lookup service one app (or one command) uses: an HTTP client, the cache."""

    def __init__(self, settings: Settings, client: httpx2.AsyncClient | None = None) -> None:
        self.settings = settings
        self.timeout = settings.isbn_lookup_timeout
        self.client = client or httpx2.AsyncClient(
            timeout=httpx2.Timeout(self.timeout),
            follow_redirects=True,
            headers={"User-Agent": "Shelfmark library system (cataloguing)"},
        )
        self.cache = LookupCache()

    @property
    def fetches_covers(self) -> bool:
        """Whether a covers service is set (an empty URL turns cover fetching off)."""
        return bool(self.settings.openlibrary_covers_url)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def lookup(self, isbn13: str) -> LookupResult:
        """What the sources know about ``isbn13``, within the lookup's time budget."""
        cached = self.cache.get(isbn13, time.monotonic())
        if cached is not None:
            return cached
        try:
            async with asyncio.timeout(self.timeout):
                result = await self._ask_sources(isbn13)
        except TimeoutError:
            result = LookupResult(isbn13, Outcome.UNREACHABLE)
        self.cache.keep(result, time.monotonic())
        return result

    async def _ask_sources(self, isbn13: str) -> LookupResult:
        sources = []
        if self.settings.openlibrary_url:
            sources.append(self._openlibrary)
        if self.settings.google_books_url:
            sources.append(self._google_books)
        answered = False
        for source in sources:
            try:
                record = await source(isbn13)
            except (httpx2.HTTPError, Malformed):
                continue
            answered = True
            if record is not None:
                return LookupResult(isbn13, Outcome.FOUND, record)
        # "Unreachable" only when no source could answer: one that said "not known" counts.
        return LookupResult(isbn13, Outcome.NOT_FOUND if answered else Outcome.UNREACHABLE)

    async def _get_json(self, url: str, params: dict[str, str]) -> Any | None:
        """The JSON body, or None for a 404; raises for anything else that is not JSON."""
        response = await self.client.get(url, params=params)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        try:
            return json.loads(response.content)
        except ValueError as error:
            raise Malformed(str(error)) from None

    async def _openlibrary(self, isbn13: str) -> BookRecord | None:
        body = await self._get_json(
            f"{self.settings.openlibrary_url.rstrip('/')}/api/books",
            {"bibkeys": f"ISBN:{isbn13}", "jscmd": "details", "format": "json"},
        )
        return None if body is None else parse_openlibrary(body, isbn13)

    async def _google_books(self, isbn13: str) -> BookRecord | None:
        body = await self._get_json(
            f"{self.settings.google_books_url.rstrip('/')}/volumes", {"q": f"isbn:{isbn13}"}
        )
        return None if body is None else parse_google_books(body, isbn13)

    async def fetch_cover(self, isbn13: str) -> bytes | None:
        """The cover image Open Library's covers service holds for ``isbn13``, or None.

        ``default=false`` makes the service answer 404 instead of a blank image.
        The body is read only up to ``MAX_COVER_BYTES``: anything larger is refused.
        """
        if not self.fetches_covers:
            return None
        url = f"{self.settings.openlibrary_covers_url.rstrip('/')}/b/isbn/{isbn13}-L.jpg"
        try:
            async with asyncio.timeout(COVER_TIMEOUT):
                async with self.client.stream(
                    "GET", url, params={"default": "false"}, timeout=COVER_TIMEOUT
                ) as response:
                    if response.status_code != 200:
                        return None
                    data = bytearray()
                    async for chunk in response.aiter_bytes():
                        data += chunk
                        if len(data) > MAX_COVER_BYTES:
                            return None
                    return bytes(data)
        except (httpx2.HTTPError, TimeoutError):
            return None
