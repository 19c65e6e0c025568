"""Importing books (with copies) from a CSV file, such as a spreadsheet export.

Reading is separated from writing: ``iter_books_csv`` turns a file into
``BookRow``s as it reads it (each valid, or carrying the reason it is not)
without touching the database, so the web preview and the CLI share it.
``stage_batch`` is the one place a row is checked against the catalogue: the
web preview stages the file (``stage_steps``) and shows what was staged, and
the confirm publishes exactly that (``webapp.importing.staging``), so the two
cannot disagree; ``plan_books`` and ``apply_books`` do the same on a plain
connection. An import is all or nothing as users see it, and never holds the
write lock for longer than a batch (docs/importing.md).
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from stdnum import isbn as stdnum_isbn

from webapp.importing import csv_columns, staging
from webapp.leases import new_holder
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


# A year as spreadsheets write it: "1965", "-500", or "1965.0" (goodbooks-10k).
# Anything else ("inf", "1e400", "soon") is refused here, where the preview sees it.
_YEAR = re.compile(r"^-?\d{1,6}(\.0*)?$")
YEARS = (-3000, 2200)  # the schema's CHECK on Books.Year


def check_year(year: int) -> int:
    if not YEARS[0] <= year <= YEARS[1]:
        raise ValueError(f"year {year} is out of range ({YEARS[0]} to {YEARS[1]})")
    return year


def _year(raw: str | None) -> int | None:
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if not _YEAR.match(text):
        raise ValueError(f"year {text[:40]!r} is not a number")
    return check_year(int(text.partition(".")[0]))


_BARCODE = re.compile(r"[0-9A-Za-z._-]{1,64}")


def check_barcodes(barcodes: list[str]) -> list[str]:
    """The row's barcodes, or ValueError: a barcode that cannot be scanned, or one given
    twice in the row (whatever the case: the database compares them so)."""
    seen: set[str] = set()
    for code in barcodes:
        if not _BARCODE.fullmatch(code):
            raise ValueError(f"barcode {code[:70]!r} may hold only letters, digits, . _ -")
        if code.casefold() in seen:
            raise ValueError(f"barcode {code} is given twice in this row")
        seen.add(code.casefold())
    return barcodes


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
            row.barcodes = check_barcodes(
                [code.strip() for code in re.split(r"[;|]", barcodes) if code.strip()]
            )
    except ValueError as error:
        row.error = str(error)
    return row


def text_of(source: bytes | str | TextIO) -> TextIO:
    """A text stream over an upload: bytes are checked and decoded whole (small files and
    tests); a stream (an upload on disk, opened with ``open_upload``) is read as it goes."""
    if isinstance(source, bytes):
        return io.StringIO(decode_upload(source), newline="")
    if isinstance(source, str):
        return io.StringIO(source, newline="")
    return source


def open_upload(path: Path) -> TextIO:
    """An uploaded CSV file on disk, as text read as it goes (bounded memory)."""
    return open(path, encoding="utf-8-sig", newline="")


def csv_header(data: bytes | str | TextIO) -> list[str]:
    """The column names of a CSV file (for the web preview's column choices)."""
    try:
        header = next(csv.reader(text_of(data)), None)
    except (csv.Error, UnicodeDecodeError) as error:
        raise _unreadable(1, error) from None
    if not header:
        raise ValueError("the file is empty")
    return header


def _unreadable(line: int, error: Exception) -> ValueError:
    if isinstance(error, UnicodeDecodeError):
        return ValueError("the file is not UTF-8 text; save it as CSV UTF-8 and try again")
    if "field larger than field limit" in str(error):
        limit = csv.field_size_limit()
        return ValueError(
            f"line {line}: a cell is longer than {limit:,} characters, so the file cannot "
            "be read past it"
        )
    if "NUL" in str(error):
        return ValueError("the file is not a CSV text file (it holds binary data)")
    return ValueError(f"line {line}: {error}")


def csv_records(reader: csv.DictReader) -> Iterator[tuple[int, dict[str, str]]]:
    """Each record of ``reader`` with the line it starts on; a file that cannot be read
    further (a cell over the csv module's limit, bytes that are not UTF-8) raises
    ValueError naming the line, the same in the preview and the import."""
    line = 2
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as error:
            raise _unreadable(line, error) from None  # the line the record starts on
        yield line, record
        line = reader.line_num + 1


def open_csv(
    data: bytes | str | TextIO,
    mapping: dict[str, str] | None,
    aliases: dict[str, tuple[str, ...]],
    *,
    required: str,
):
    """The file's records (``csv_records``) and the column mapping to read them with
    (detected unless given).

    Shared by the book and patron importers, each with its own column ``aliases``;
    ``required`` is the field without which no row can be read.
    """
    reader = csv.DictReader(text_of(data))
    try:
        fieldnames = reader.fieldnames
    except (csv.Error, UnicodeDecodeError) as error:
        raise _unreadable(1, error) from None
    if not fieldnames:
        raise ValueError("the file is empty")
    if mapping is None:
        mapping = csv_columns.detect_mapping(fieldnames, aliases)
    else:
        mapping = csv_columns.checked_mapping(list(fieldnames), mapping, aliases)
    if required not in mapping:
        raise ValueError(f"no {required} column was found (expected a column named '{required}')")
    return mapping, csv_records(reader)


def iter_books_csv(
    data: bytes | str | TextIO, mapping: dict[str, str] | None = None
) -> tuple[dict[str, str], Iterator[BookRow]]:
    """Parse a CSV file into rows as it is read; returns the column mapping used and the rows.

    ``mapping`` (field -> column), when given, replaces the detected one: the
    web preview lets a librarian correct it.
    """
    mapping, records = open_csv(data, mapping, COLUMN_ALIASES, required="title")
    return mapping, (parse_book_row(line, record, mapping) for line, record in records)


def read_books_csv(
    data: bytes | str, mapping: dict[str, str] | None = None
) -> tuple[dict[str, str], list[BookRow]]:
    """``iter_books_csv`` as a list (small files, the command line and tests)."""
    mapping, rows = iter_books_csv(data, mapping)
    return mapping, list(rows)


EXAMPLES_PER_REASON = 5  # rows shown for each reason; the rest are counted
MAX_REASONS = 50  # distinct reasons kept; further ones are counted as "other problems"
# What varies between two rows with the same reason: quoted values, and words
# holding a digit (barcodes, ISBNs, years, line numbers).
_VARYING = re.compile(r"'[^']*'|\"[^\"]*\"|[\w.-]*\d[\w.-]*")


def reason_of(message: str) -> str:
    """The reason a problem message gives, without the row's own values: what groups it."""
    return _VARYING.sub("…", message)


@dataclass
class ProblemGroup:
    reason: str
    count: int = 0
    examples: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class ImportSummary:
    new: int = 0
    updated: int = 0
    duplicate: int = 0
    invalid: int = 0
    copies_added: int = 0
    rows: int = 0
    # Rows not imported as they stood (warnings included), grouped by reason, each
    # group with its count and first few rows: bounded, however large the file.
    groups: dict[str, ProblemGroup] = field(default_factory=dict)
    # The first rows as they will be imported (web preview).
    samples: list[dict] = field(default_factory=list)

    def problem(self, line: int, message: str) -> None:
        reason = reason_of(message)
        if reason not in self.groups and len(self.groups) >= MAX_REASONS:
            reason = "other problems"
        group = self.groups.setdefault(reason, ProblemGroup(reason))
        group.count += 1
        if len(group.examples) < EXAMPLES_PER_REASON:
            group.examples.append((line, message))

    @property
    def problems(self) -> list[tuple[int, str]]:
        """The rows shown as examples, in file order: every problem of a small file."""
        return sorted(example for group in self.groups.values() for example in group.examples)

    @property
    def problem_count(self) -> int:
        return sum(group.count for group in self.groups.values())

    def counts(self) -> str:
        """The counts in the words of the import's log line (the CLI's and the web's)."""
        return (
            f"{self.new} new, {self.updated} updated, {self.duplicate} duplicate, "
            f"{self.invalid} invalid, {self.copies_added} copies added"
        )

    def to_json(self) -> dict:
        return {
            **{name: getattr(self, name) for name in _COUNTS},
            "groups": [[g.reason, g.count, g.examples] for g in self.groups.values()],
            "samples": self.samples,
        }

    @classmethod
    def from_json(cls, data: dict) -> ImportSummary:
        summary = cls(**{name: data[name] for name in _COUNTS}, samples=data["samples"])
        for reason, count, examples in data["groups"]:
            summary.groups[reason] = ProblemGroup(
                reason, count, [(line, message) for line, message in examples]
            )
        return summary


_COUNTS = ("new", "updated", "duplicate", "invalid", "copies_added", "rows")
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
        summary.rows += 1
        if row.error:
            summary.invalid += 1
            summary.problem(row.line, row.error)
            continue
        if row.identity in seen:
            summary.duplicate += 1
            summary.problem(row.line, "repeats an earlier row of this file")
            continue
        seen.add(row.identity)
        yield row


@dataclass
class StagingState:
    """An import being staged: where it is in the file, and what it found so far."""

    import_id: int
    default_copies: int = 1
    seq: int = 0
    new_books: int = 0
    summary: ImportSummary = field(default_factory=ImportSummary)


SAMPLE_ROWS = 10


def stage_batch(conn: sqlite3.Connection, state: StagingState, rows: list[BookRow]) -> None:
    """Check ``rows`` against the catalogue and this import's earlier rows, and stage the
    valid ones (one transaction, on the writer). The one check of every row: the
    preview's counts and reasons are exactly what the import will do."""
    staging.touch(conn, state.import_id)
    summary = state.summary
    for row in rows:
        state.seq += 1
        summary.rows += 1
        if row.error:
            summary.invalid += 1
            summary.problem(row.line, row.error)
            continue
        identity = "\x1f".join(map(str, row.identity))
        if conn.execute(
            "SELECT 1 FROM ImportStagedBooks WHERE ImportID = ? AND Identity = ?",
            (state.import_id, identity),
        ).fetchone():
            summary.duplicate += 1
            summary.problem(row.line, "repeats an earlier row of this file")
            continue
        existing = _find_existing(conn, row)
        if existing is None:
            if row.item_type is not None:
                item_type = conn.execute(
                    "SELECT ItemTypeID FROM ItemTypes WHERE Name = ? COLLATE NOCASE",
                    (row.item_type,),
                ).fetchone()
                if item_type is None:
                    summary.invalid += 1
                    summary.problem(row.line, f"no item type is called {row.item_type}")
                    continue
                row.item_type_id = item_type[0]
            clash = _barcode_clash(conn, state.import_id, row.barcodes)
            if clash:
                summary.invalid += 1
                summary.problem(row.line, clash)
                continue
            _stage_new(conn, state, row, identity)
        else:
            _stage_known(conn, state, row, identity, existing)
        for warning in row.warnings:
            summary.problem(row.line, warning)


def _barcode_clash(conn: sqlite3.Connection, import_id: int, barcodes: list[str]) -> str | None:
    for code in barcodes:
        if conn.execute("SELECT 1 FROM Copies WHERE Barcode = ?", (code,)).fetchone():
            return f"barcode {code} is already in use"
        if conn.execute(
            "SELECT 1 FROM ImportStagedCopies WHERE ImportID = ? AND Barcode = ?",
            (import_id, code),
        ).fetchone():
            return f"barcode {code} is already given to an earlier row of this file"
        card = codes.barcode_clash(conn, code)
        if card:
            return f"barcode: {card}"
    return None


_STAGE = (
    "INSERT INTO ImportStagedBooks (ImportID, Seq, Line, Action, Identity, BookID, NewIndex, "
    "Title, Author, ISBN, Year, Language, Series, Subjects, Publisher, Location, ToGenerate, "
    "ItemTypeID) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def _stage_new(conn: sqlite3.Connection, state: StagingState, row: BookRow, identity: str) -> None:
    wanted = max(row.copies if row.copies is not None else state.default_copies, len(row.barcodes))
    state.new_books += 1
    conn.execute(
        _STAGE,
        (
            state.import_id,
            state.seq,
            row.line,
            "new",
            identity,
            None,
            state.new_books,
            row.title,
            row.author,
            row.isbn,
            row.year,
            row.language,
            row.series,
            row.subjects,
            row.publisher,
            row.location,
            wanted - len(row.barcodes),
            row.item_type_id,
        ),
    )
    conn.executemany(
        "INSERT INTO ImportStagedCopies (ImportID, Seq, Barcode) VALUES (?, ?, ?)",
        [(state.import_id, state.seq, code) for code in row.barcodes],
    )
    state.summary.new += 1
    state.summary.copies_added += wanted
    _sample(state, row, "new", wanted)


def _stage_known(
    conn: sqlite3.Connection,
    state: StagingState,
    row: BookRow,
    identity: str,
    existing: sqlite3.Row,
) -> None:
    changes = {
        name: getattr(row, name)
        for name in _UPDATABLE
        if getattr(row, name) not in (None, "") and getattr(row, name) != existing[_COLUMN[name]]
    }
    action = "update" if changes else "same"
    conn.execute(
        _STAGE,
        (
            state.import_id,
            state.seq,
            row.line,
            action,
            identity,
            existing["BookID"],
            None,
            existing["Title"],
            *(changes.get(name) for name in _UPDATABLE[:1]),
            existing["ISBN"],
            *(changes.get(name) for name in _UPDATABLE[1:]),
            None,
            0,
            None,
        ),
    )
    if changes:
        state.summary.updated += 1
        _sample(state, row, "update", 0)
    else:
        state.summary.duplicate += 1
        state.summary.problem(row.line, "already in the catalogue; nothing to change")


def _sample(state: StagingState, row: BookRow, action: str, copies: int) -> None:
    if len(state.summary.samples) < SAMPLE_ROWS:
        state.summary.samples.append(
            {
                "line": row.line,
                "action": action,
                "title": row.title,
                "author": row.author,
                "isbn": row.isbn,
                "year": row.year,
                "copies": copies,
                "barcodes": list(row.barcodes),
            }
        )


def _batches(rows: Iterable[BookRow], size: int) -> Iterator[list[BookRow]]:
    batch: list[BookRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def stage_steps(
    rows: Iterable[BookRow],
    *,
    source: str,
    mapping: str,
    default_copies: int = 1,
    progress: Callable[[int], None] | None = None,
) -> staging.Steps:
    """Stage ``rows`` batch by batch (``webapp.importing.staging``); returns the run's id and
    its summary. A failure discards what was staged, and the file's problems raise
    ValueError with the line, as they would for the preview."""
    yield from staging.cleanup_steps(source)
    import_id = yield staging.Step(staging.begin, (source, mapping, new_holder()))
    state = StagingState(import_id, default_copies)
    try:
        for batch in _batches(rows, staging.BATCH_ROWS):
            yield staging.Step(stage_batch, (state, batch))
            if progress:
                progress(len(batch))
        yield staging.Step(staging.finish_staging, (import_id, state.summary.to_json()))
    except Exception:
        yield from staging.discard_steps([import_id])
        raise
    return import_id, state.summary


def import_steps(
    rows: Iterable[BookRow],
    *,
    source: str,
    mapping: str = "{}",
    default_copies: int = 1,
    progress: Callable[[int], None] | None = None,
) -> staging.Steps:
    """Stage, then publish: a whole import (the command line's)."""
    import_id, summary = yield from stage_steps(
        rows, source=source, mapping=mapping, default_copies=default_copies, progress=progress
    )
    summary.copies_added = yield from publish_or_discard(import_id)
    return summary


def publish_or_discard(import_id: int) -> staging.Steps:
    """Publish the staged run; if that fails, discard what it wrote (short transactions).
    A run another request is already publishing is left to it."""
    try:
        return (yield from staging.publish_steps(import_id, new_holder()))
    except staging.AlreadyPublishing:
        raise
    except Exception:
        yield from staging.discard_steps([import_id])
        raise


def plan_books(
    conn: sqlite3.Connection, rows: Iterable[BookRow], progress: Callable[[int], None] | None = None
) -> ImportSummary:
    """What ``apply_books`` would do with ``rows``: staged, counted, then discarded."""
    import_id, summary = staging.run_sync(
        conn, stage_steps(rows, source=f"plan:{new_holder()}", mapping="{}", progress=progress)
    )
    staging.run_sync(conn, staging.discard_steps([import_id]))
    return summary


def apply_books(
    conn: sqlite3.Connection,
    rows: Iterable[BookRow],
    *,
    default_copies: int = 1,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import ``rows``: new books get copies, known books are updated; all or nothing.

    A book is known by its ISBN, or by title and author when it has none, so
    importing the same file twice adds nothing the second time. A row whose
    barcode is already in use is refused (and listed). The rows are staged in
    short transactions, written into the catalogue invisibly in short transactions
    and shown in one (``webapp.importing.staging``), so
    the desk keeps working during a large import and nobody sees half of it.
    """
    return staging.run_sync(
        conn,
        import_steps(
            rows,
            source=f"apply:{new_holder()}",
            default_copies=default_copies,
            progress=progress,
        ),
    )


# The unary + keeps SQLite off the ISBN index for "ISBN IS NULL": every book
# without an ISBN shares that key, so using it scanned them all for each row
# and re-importing a file of 20,000 such books took minutes instead of seconds.
FIND_BY_TITLE_AND_AUTHOR = (
    "SELECT * FROM CatalogueBooks WHERE +ISBN IS NULL AND Title = ? AND Author = ? LIMIT 1"
)


def _find_existing(conn: sqlite3.Connection, row: BookRow) -> sqlite3.Row | None:
    if row.isbn:
        return conn.execute("SELECT * FROM CatalogueBooks WHERE ISBN = ?", (row.isbn,)).fetchone()
    return conn.execute(FIND_BY_TITLE_AND_AUTHOR, (row.title, row.author)).fetchone()
