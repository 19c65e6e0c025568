"""Importing books (with copies) from a CSV file, such as a spreadsheet export.

Reading is separated from writing: ``read_books_csv`` turns a file into
``BookRow``s (each valid, or carrying the reason it is not) without touching
the database, so the web preview and the CLI share it; ``plan_books`` says
what an import would do without writing (the web preview's counts), and
``apply_books`` writes it in one transaction, so an import is all or nothing.
Both classify rows with the same ``_classify``, so the preview's counts are
exactly what confirming does.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from stdnum import isbn as stdnum_isbn

from webapp.importing import csv_columns
from webapp.models import codes

# Header names seen in the wild, lower-cased, for each field we store. The
# first match wins, so the trustworthy column comes first (goodbooks-10k's
# isbn13 is in scientific notation and has lost digits).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title", "book title", "name"),
    "author": ("author", "authors", "author(s)", "creator"),
    "isbn": ("isbn", "isbn10", "isbn_10", "isbn-10", "isbn13", "isbn_13", "isbn-13"),
    "year": ("year", "original_publication_year", "publication_year", "published", "pub_year"),
    "language": ("language", "language_code", "lang"),
    "series": ("series",),
    "subjects": ("subjects", "subject", "genres", "tags"),
    "publisher": ("publisher",),
    "copies": ("copies", "copy_count", "number_of_copies"),
    "barcodes": ("barcodes", "barcode"),
    "location": ("location", "shelf", "shelf_location"),
    "item_type": ("item_type", "item type", "itemtype", "material type"),
}
FIELDS = tuple(COLUMN_ALIASES)

# "The Hunger Games (The Hunger Games, #1)": the bracket names the series.
_SERIES_IN_TITLE = re.compile(r"^(?P<title>.+?)\s*\((?P<series>[^()]*#\s*\d[^()]*)\)\s*$")
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?e\+?\d+$", re.IGNORECASE)


# Exports put a ' before cells a spreadsheet would run as a formula (see
# webapp.exporting); the importer takes it off again so a round trip is exact.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def unquote_formula(value: str | None) -> str | None:
    """The cell without the ' an export put before a would-be formula."""
    if value and value.startswith("'") and value[1:2] and value[1] in FORMULA_STARTS:
        return value[1:]
    return value


def decode_upload(data: bytes) -> str:
    """UTF-8 text of an uploaded CSV file, or ValueError saying what is wrong with it."""
    if b"\x00" in data:
        raise ValueError("the file is not a CSV text file (it holds binary data)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("the file is not UTF-8 text; save it as CSV UTF-8 and try again") from None


def clean_text(value: str | None, limit: int) -> str | None:
    """Trimmed text without control characters, or None when empty; too long raises."""
    if value is None:
        return None
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in value)
    text = " ".join(text.split())
    if not text:
        return None
    if len(text) > limit:
        raise ValueError(f"is longer than {limit} characters")
    return text


def repair_isbn(raw: str | None) -> str | None:
    """An ISBN-13 from a messy cell, or None when the cell is empty or untrustworthy.

    Spreadsheets drop the leading zeros of ISBN-10s ("439023483" is
    "0439023483"): the zeros are restored when the checksum then holds. A value
    in scientific notation has lost digits and is never trusted.
    """
    if raw is None:
        return None
    text = raw.strip()
    if not text or _SCIENTIFIC.match(text):
        return None
    compact = re.sub(r"[\s-]", "", text).upper()
    if compact.endswith(".0"):
        compact = compact[:-2]
    if re.fullmatch(r"\d{1,9}X?|\d{1,10}", compact) and len(compact) < 10:
        compact = compact.zfill(10)
    if stdnum_isbn.is_valid(compact):
        return stdnum_isbn.to_isbn13(compact)
    raise ValueError(f"ISBN {raw.strip()!r} is not a valid ISBN-10 or ISBN-13")


@dataclass
class BookRow:
    """One data row of the file, normalised; ``error`` says why it cannot be imported."""

    line: int
    title: str | None = None
    author: str = ""
    isbn: str | None = None
    year: int | None = None
    language: str | None = None
    series: str | None = None
    subjects: str | None = None
    publisher: str | None = None
    copies: int | None = None
    barcodes: list[str] = field(default_factory=list)
    location: str | None = None
    # The item type (by name) of the copies a new book gets; None: the default (Book).
    item_type: str | None = None
    item_type_id: int | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def identity(self) -> tuple:
        """What makes two rows the same book: the ISBN, or else title and author."""
        if self.isbn:
            return ("isbn", self.isbn)
        return ("title", (self.title or "").casefold(), self.author.casefold())


def detect_mapping(header: Iterable[str]) -> dict[str, str]:
    """Map each book field to the first matching column of ``header``."""
    return csv_columns.detect_mapping(header, COLUMN_ALIASES)


def shorten_authors(names: str, limit: int = 500) -> str:
    """Several authors as one string; a list too long to store keeps its first names and
    "et al."."""
    if len(names) <= limit:
        return names
    kept: list[str] = []
    for name in names.split(","):
        if len(", ".join([*kept, name.strip()])) + len(", et al.") > limit:
            break
        kept.append(name.strip())
    return ", ".join(kept) + ", et al."


def _year(raw: str | None) -> int | None:
    if raw is None or not raw.strip():
        return None
    try:
        year = int(float(raw.strip()))
    except ValueError:
        raise ValueError(f"year {raw.strip()!r} is not a number") from None
    if not -3000 <= year <= 2200:
        raise ValueError(f"year {year} is out of range")
    return year


def parse_book_row(line: int, record: dict[str, str], mapping: dict[str, str]) -> BookRow:
    row = BookRow(line=line)

    def cell(name: str) -> str | None:
        column = mapping.get(name)
        return unquote_formula(record.get(column)) if column else None

    try:
        title = clean_text(cell("title"), 500)
        if title is None:
            raise ValueError("the title is empty")
        series = clean_text(cell("series"), 300)
        bracket = _SERIES_IN_TITLE.match(title)
        if bracket:
            title = bracket.group("title")
            series = series or bracket.group("series")
        row.title = title
        row.series = series
        row.author = shorten_authors(clean_text(cell("author"), 20_000) or "")
        try:
            row.isbn = repair_isbn(cell("isbn"))
        except ValueError as error:
            row.warnings.append(f"{error}; imported without an ISBN")
        row.year = _year(cell("year"))
        row.language = clean_text(cell("language"), 20)
        row.subjects = clean_text(cell("subjects"), 1000)
        row.publisher = clean_text(cell("publisher"), 300)
        row.location = clean_text(cell("location"), 100)
        row.item_type = clean_text(cell("item_type"), 40)
        copies = clean_text(cell("copies"), 6)
        if copies is not None:
            if not copies.isdecimal() or int(copies) > 500:
                raise ValueError(f"copies {copies!r} is not a whole number from 0 to 500")
            row.copies = int(copies)
        barcodes = clean_text(cell("barcodes"), 5000)
        if barcodes:
            row.barcodes = [code.strip() for code in re.split(r"[;|]", barcodes) if code.strip()]
            for code in row.barcodes:
                if not re.fullmatch(r"[0-9A-Za-z._-]{1,64}", code):
                    raise ValueError(f"barcode {code!r} may hold only letters, digits, . _ -")
    except ValueError as error:
        row.error = str(error)
    return row


def csv_header(data: bytes | str) -> list[str]:
    """The column names of a CSV file (for the web preview's column choices)."""
    text = decode_upload(data) if isinstance(data, bytes) else data
    header = next(csv.reader(io.StringIO(text, newline="")), None)
    if not header:
        raise ValueError("the file is empty")
    return header


def open_csv(
    data: bytes | str,
    mapping: dict[str, str] | None,
    aliases: dict[str, tuple[str, ...]],
    *,
    required: str,
):
    """The file's records and the column mapping to read them with (detected unless given).

    Shared by the book and patron importers, each with its own column ``aliases``;
    ``required`` is the field without which no row can be read.
    """
    text = decode_upload(data) if isinstance(data, bytes) else data
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise ValueError("the file is empty")
    if mapping is None:
        mapping = csv_columns.detect_mapping(reader.fieldnames, aliases)
    else:
        mapping = csv_columns.checked_mapping(list(reader.fieldnames), mapping, aliases)
    if required not in mapping:
        raise ValueError(f"no {required} column was found (expected a column named '{required}')")
    return mapping, reader


def read_books_csv(
    data: bytes | str, mapping: dict[str, str] | None = None
) -> tuple[dict[str, str], list[BookRow]]:
    """Parse a CSV file into rows; returns the column mapping used and the rows.

    ``mapping`` (field -> column), when given, replaces the detected one: the
    web preview lets a librarian correct it.
    """
    mapping, reader = open_csv(data, mapping, COLUMN_ALIASES, required="title")
    rows = [parse_book_row(number, record, mapping) for number, record in enumerate(reader, 2)]
    return mapping, rows


@dataclass
class ImportSummary:
    new: int = 0
    updated: int = 0
    duplicate: int = 0
    invalid: int = 0
    copies_added: int = 0
    # (line, message) for every row not imported as it stood, including warnings.
    problems: list[tuple[int, str]] = field(default_factory=list)

    def counts(self) -> str:
        """The counts in the words of the import's log line (the CLI's and the web's)."""
        return (
            f"{self.new} new, {self.updated} updated, {self.duplicate} duplicate, "
            f"{self.invalid} invalid, {self.copies_added} copies added"
        )


_UPDATABLE = ("author", "year", "language", "series", "subjects", "publisher")
_COLUMN = {
    "title": "Title",
    "author": "Author",
    "isbn": "ISBN",
    "year": "Year",
    "language": "Language",
    "series": "Series",
    "subjects": "Subjects",
    "publisher": "Publisher",
}


def first_occurrences(rows: list, summary: ImportSummary, progress: Callable[[int], None] | None):
    """The valid rows, each identity once; invalid and repeated rows go into ``summary``."""
    seen: set[tuple] = set()
    for row in rows:
        if progress:
            progress(1)
        if row.error:
            summary.invalid += 1
            summary.problems.append((row.line, row.error))
            continue
        if row.identity in seen:
            summary.duplicate += 1
            summary.problems.append((row.line, "repeats an earlier row of this file"))
            continue
        seen.add(row.identity)
        yield row


@dataclass
class _Decision:
    """What importing one valid row does: add a book, change one, or nothing."""

    row: BookRow
    action: str
    book_id: int | None = None
    changes: dict[str, object] = field(default_factory=dict)


def _classify(
    conn: sqlite3.Connection,
    rows: list[BookRow],
    summary: ImportSummary,
    progress: Callable[[int], None] | None,
) -> list[_Decision]:
    """Decide each row against the database without writing; counts go into ``summary``."""
    decisions: list[_Decision] = []
    barcodes_in_file: set[str] = set()
    for row in first_occurrences(rows, summary, progress):
        existing = _find_existing(conn, row)
        if existing is None:
            if row.item_type is not None:
                item_type = conn.execute(
                    "SELECT ItemTypeID FROM ItemTypes WHERE Name = ? COLLATE NOCASE",
                    (row.item_type,),
                ).fetchone()
                if item_type is None:
                    summary.invalid += 1
                    summary.problems.append((row.line, f"no item type is called {row.item_type}"))
                    continue
                row.item_type_id = item_type[0]
            clash = _barcode_clash(conn, row.barcodes, barcodes_in_file)
            if clash:
                summary.invalid += 1
                summary.problems.append((row.line, f"barcode {clash} is already in use"))
                continue
            card = next(filter(None, (codes.barcode_clash(conn, c) for c in row.barcodes)), None)
            if card:
                summary.invalid += 1
                summary.problems.append((row.line, f"barcode: {card}"))
                continue
            barcodes_in_file.update(code.casefold() for code in row.barcodes)
            summary.problems.extend((row.line, warning) for warning in row.warnings)
            summary.new += 1
            decisions.append(_Decision(row, "new"))
            continue
        summary.problems.extend((row.line, warning) for warning in row.warnings)
        changes = {
            name: getattr(row, name)
            for name in _UPDATABLE
            if getattr(row, name) not in (None, "")
            and getattr(row, name) != existing[_COLUMN[name]]
        }
        if changes:
            summary.updated += 1
            decisions.append(_Decision(row, "update", existing["BookID"], changes))
        else:
            summary.duplicate += 1
            summary.problems.append((row.line, "already in the catalogue; nothing to change"))
    return decisions


def _barcode_clash(conn: sqlite3.Connection, barcodes: list[str], in_file: set[str]) -> str | None:
    for code in barcodes:
        if (
            code.casefold() in in_file
            or conn.execute("SELECT 1 FROM Copies WHERE Barcode = ?", (code,)).fetchone()
        ):
            return code
    return None


def plan_books(
    conn: sqlite3.Connection, rows: list[BookRow], progress: Callable[[int], None] | None = None
) -> ImportSummary:
    """What ``apply_books`` would do with ``rows``, without writing anything."""
    summary = ImportSummary()
    conn.execute("BEGIN")
    try:
        _classify(conn, rows, summary, progress)
    finally:
        conn.execute("ROLLBACK")
    return summary


def apply_books(
    conn: sqlite3.Connection,
    rows: list[BookRow],
    *,
    default_copies: int = 1,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Write ``rows`` in one transaction: new books get copies, known books are updated.

    A book is known by its ISBN, or by title and author when it has none, so
    importing the same file twice adds nothing the second time. A row whose
    barcode is already in use is refused (and listed); any error while
    writing rolls everything back.
    """
    summary = ImportSummary()
    conn.execute("BEGIN IMMEDIATE")
    try:
        decisions = _classify(conn, rows, summary, progress)
        prefix, next_number = _barcode_sequence(conn)
        for decision in decisions:
            row = decision.row
            if decision.action == "update":
                assignments = ", ".join(f"{_COLUMN[name]} = ?" for name in decision.changes)
                conn.execute(
                    f"UPDATE Books SET {assignments} WHERE BookID = ?",
                    (*decision.changes.values(), decision.book_id),
                )
                continue
            book_id = conn.execute(
                "INSERT INTO Books "
                "(Title, Author, ISBN, Year, Language, Series, Subjects, Publisher) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (
                    row.title,
                    row.author,
                    row.isbn,
                    row.year,
                    row.language,
                    row.series,
                    row.subjects,
                    row.publisher,
                ),
            ).lastrowid
            barcodes = list(row.barcodes)
            wanted = max(row.copies if row.copies is not None else default_copies, len(barcodes))
            while len(barcodes) < wanted:
                code = f"{prefix}{next_number}"
                next_number += 1
                if not codes.code_taken(conn, code):
                    barcodes.append(code)
            for barcode in barcodes:
                try:
                    conn.execute(
                        "INSERT INTO Copies (BookID, Barcode, Location, ItemTypeID) "
                        "VALUES (?,?,?,?)",
                        (book_id, barcode, row.location, row.item_type_id),
                    )
                except sqlite3.IntegrityError:
                    raise ValueError(
                        f"line {row.line}: barcode {barcode} is already in use"
                    ) from None
                summary.copies_added += 1
        conn.execute(
            "UPDATE LibrarySettings SET Value = ? WHERE Key = 'barcode_next'", (str(next_number),)
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return summary


def _barcode_sequence(conn: sqlite3.Connection) -> tuple[str, int]:
    settings = dict(
        conn.execute(
            "SELECT Key, Value FROM LibrarySettings WHERE Key IN ('barcode_prefix', 'barcode_next')"
        ).fetchall()
    )
    return settings["barcode_prefix"], int(settings["barcode_next"])


# The unary + keeps SQLite off the ISBN index for "ISBN IS NULL": every book
# without an ISBN shares that key, so using it scanned them all for each row
# and re-importing a file of 20,000 such books took minutes instead of seconds.
FIND_BY_TITLE_AND_AUTHOR = (
    "SELECT * FROM Books WHERE +ISBN IS NULL AND Title = ? AND Author = ? LIMIT 1"
)


def _find_existing(conn: sqlite3.Connection, row: BookRow) -> sqlite3.Row | None:
    if row.isbn:
        return conn.execute("SELECT * FROM Books WHERE ISBN = ?", (row.isbn,)).fetchone()
    return conn.execute(FIND_BY_TITLE_AND_AUTHOR, (row.title, row.author)).fetchone()
