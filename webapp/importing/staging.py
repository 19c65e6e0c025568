"""Staged imports: checked, written and removed in short transactions, shown in one.

A large import used to be one transaction that held SQLite's write lock for
its whole length (about 50 s for a million rows): every desk scan meanwhile
waited, then failed. Now an import goes through the staging tables of
``sql/0008_import_staging.sql`` and the invisible rows of
``sql/0017_import_visibility.sql`` (docs/importing.md):

1. **stage** (the preview): the file is read as a stream and each batch of
   ``BATCH_ROWS`` rows is checked against the catalogue and written to
   ``ImportStagedBooks``/``ImportStagedCopies`` in its own short ``BEGIN
   IMMEDIATE`` transaction; the desk's writes take turns in between. The
   preview's counts, grouped reasons and sample rows are what was staged, so
   the preview and the confirm cannot disagree.
2. **generate** (the confirm): staged new books that need copies get barcodes
   from the library's sequence, again in short batches; the numbers are
   reserved in ``barcode_next`` at once, so a librarian adding a copy meanwhile
   cannot take them.
3. **publish**: the new books and their copies are written into ``Books`` and
   ``Copies`` with ``INSERT ... SELECT``, ``PUBLISH_ROWS`` books per
   transaction, carrying the run's ``ImportID``: every catalogue read goes
   through the ``CatalogueBooks`` view, which skips the books of a run not yet
   published. Then one tiny transaction (``make_visible``) applies the changes
   to known books and marks the run published: users see all of an import or
   none of it, and no transaction grows with the number of new books.
4. **discard**: a published run's books get ``ImportID`` NULL again, and the
   staged rows are deleted, in short batches; an unpublished run's invisible
   books and copies are deleted so too, on failure, when the librarian cancels,
   or when a later import finds the run abandoned (its process died, or a
   preview nobody confirmed within a day).

The steps are generators of database work (``Step``s): ``run_sync`` runs them
on a plain connection (the command line, with a pause between transactions
so the server's writers get the lock), ``run_async`` on the server's one writer
through ``Database.write``, whose queue is fair, with the file read in a worker
thread.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from webapp.clock import parse_stamp, utc_now, utc_stamp
from webapp.db import Database
from webapp.leases import holder_is_gone
from webapp.models import codes

BATCH_ROWS = 2000  # rows checked and staged per transaction: tens of milliseconds
DISCARD_ROWS = 20_000  # staged rows deleted per transaction
PUBLISH_ROWS = 2000  # new books (with their copies) written into Books per transaction
UNPUBLISH_ROWS = 2000  # invisible books (with their copies) deleted per transaction
CLEAR_ROWS = 20_000  # published books whose ImportID is set back to NULL per transaction
GENERATE_BOOKS = 500  # staged books given barcodes per transaction (each up to 500 copies)
ABANDONED_AFTER = timedelta(minutes=10)  # a run still staging, untouched this long, is dead
STAGED_KEPT = timedelta(days=1)  # a preview nobody confirmed, like an upload left behind
PAUSE_SHARE = 1.0  # the command line rests this share of each transaction's time after it


@dataclass(frozen=True)
class Step:
    """One transaction's work: ``function(conn, *args)`` inside ``BEGIN IMMEDIATE``."""

    function: Callable[..., Any]
    args: tuple = ()


Steps = Generator[Step, Any, Any]


def _in_transaction(conn: sqlite3.Connection, step: Step) -> Any:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = step.function(conn, *step.args)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def run_sync(conn: sqlite3.Connection, steps: Steps) -> Any:
    """Run ``steps`` on a plain connection, resting between transactions (the CLI)."""
    result, error = None, None
    while True:
        done, value = _advance(steps, result, error)
        if done:
            return value
        started = time.monotonic()
        try:
            result, error = _in_transaction(conn, value), None
        except Exception as failure:  # the steps decide: discard what was staged, re-raise
            result, error = None, failure
        # SQLite's lock is not fair: without a rest, the server's writers (polling
        # in their busy handlers) could miss every gap between our transactions.
        time.sleep((time.monotonic() - started) * PAUSE_SHARE)


async def run_async(db: Database, steps: Steps) -> Any:
    """Run ``steps`` on the server's writer, in turn with every other write."""
    result, error = None, None
    while True:
        # The steps read the file between transactions: in a worker thread.
        done, value = await asyncio.to_thread(_advance, steps, result, error)
        if done:
            return value
        try:
            result, error = await db.write(_in_step, value), None
        except Exception as failure:
            result, error = None, failure


def _in_step(conn: sqlite3.Connection, step: Step) -> Any:
    return step.function(conn, *step.args)


def _advance(steps: Steps, value: Any, error: Exception | None) -> tuple[bool, Any]:
    """The next step, after sending the last one's result (or throwing its error) in."""
    # StopIteration cannot cross a Future (asyncio.to_thread): return it as a value.
    try:
        return False, steps.throw(error) if error is not None else steps.send(value)
    except StopIteration as stop:
        return True, stop.value


def mapping_key(mapping: dict[str, str] | None) -> str:
    return json.dumps(mapping or {}, sort_keys=True)


def begin(conn: sqlite3.Connection, source: str, mapping: str, holder: str) -> int:
    now = utc_stamp(utc_now())
    cursor = conn.execute(
        "INSERT INTO ImportRuns (Source, Mapping, Holder, StartedAt, TouchedAt) "
        "VALUES (?, ?, ?, ?, ?)",
        (source, mapping, holder, now, now),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def touch(conn: sqlite3.Connection, import_id: int) -> None:
    conn.execute(
        "UPDATE ImportRuns SET TouchedAt = ? WHERE ImportID = ?",
        (utc_stamp(utc_now()), import_id),
    )


def finish_staging(conn: sqlite3.Connection, import_id: int, summary: dict) -> None:
    conn.execute(
        "UPDATE ImportRuns SET Status = 'staged', Summary = ?, TouchedAt = ? WHERE ImportID = ?",
        (json.dumps(summary), utc_stamp(utc_now()), import_id),
    )


def find_staged(conn: sqlite3.Connection, source: str, mapping: str) -> tuple[int, dict] | None:
    """The staged run of this upload with this mapping (a preview shown), if any."""
    row = conn.execute(
        "SELECT ImportID, Summary FROM ImportRuns "
        "WHERE Source = ? AND Mapping = ? AND Status = 'staged' ORDER BY ImportID DESC LIMIT 1",
        (source, mapping),
    ).fetchone()
    return None if row is None else (row["ImportID"], json.loads(row["Summary"]))


def runs_to_discard(
    conn: sqlite3.Connection, now: datetime, source: str | None = None
) -> list[int]:
    """Runs whose rows should go: published ones, abandoned ones (their process is gone,
    or they were left untouched too long), and (when ``source`` is given) every earlier
    run of that upload, which a new preview replaces."""
    found = []
    for row in conn.execute(
        "SELECT ImportID, Source, Holder, Status, TouchedAt, BookBase FROM ImportRuns"
    ):
        touched = parse_stamp(row["TouchedAt"])
        # A run being published is written to by its publisher, like one staging.
        busy = row["Status"] == "staging" or (
            row["Status"] == "staged" and row["BookBase"] is not None
        )
        if (
            row["Status"] == "published"
            # An earlier preview of the same upload (one still staging in another
            # request of this session finishes first, and goes at the next cleanup).
            or (row["Source"] == source and not busy)
            or holder_is_gone(row["Holder"])  # its process died (or the server restarted)
            or (busy and now - touched > ABANDONED_AFTER)
            or (row["Status"] == "staged" and now - touched > STAGED_KEPT)
        ):
            found.append(row["ImportID"])
    return found


def _unpublish_some(conn: sqlite3.Connection, import_id: int, published: bool) -> bool:
    """One short step of taking a run's rows out of Books: a published run's books keep
    their place and get ImportID NULL (they are visible either way); an unpublished
    run's books, never seen by anyone, are deleted with their copies. True once none
    is left."""
    limit = CLEAR_ROWS if published else UNPUBLISH_ROWS
    book_ids = [
        row[0]
        for row in conn.execute(
            "SELECT BookID FROM Books WHERE ImportID = ? LIMIT ?", (import_id, limit)
        )
    ]
    if not book_ids:
        return True
    chosen = "SELECT value FROM json_each(?)"
    if published:
        conn.execute(
            f"UPDATE Books SET ImportID = NULL WHERE BookID IN ({chosen})", (json.dumps(book_ids),)
        )
    else:
        conn.execute(f"DELETE FROM Copies WHERE BookID IN ({chosen})", (json.dumps(book_ids),))
        conn.execute(f"DELETE FROM Books WHERE BookID IN ({chosen})", (json.dumps(book_ids),))
    return len(book_ids) < limit


def discard_some(conn: sqlite3.Connection, import_id: int, limit: int = DISCARD_ROWS) -> bool:
    """One short step of discarding a run; True once the run is gone.

    First its rows in Books (``_unpublish_some``), then up to ``limit`` of its
    staged rows per step. A run that never published gives its reserved barcode
    numbers back, if nobody reserved more since.
    """
    run = conn.execute(
        "SELECT Status, BookBase, BarcodeFrom, BarcodeTo FROM ImportRuns WHERE ImportID = ?",
        (import_id,),
    ).fetchone()
    if run is None:
        return True
    if run["BookBase"] is not None and not _unpublish_some(
        conn, import_id, run["Status"] == "published"
    ):
        return False
    deleted = conn.execute(
        "DELETE FROM ImportStagedCopies WHERE rowid IN "
        "(SELECT rowid FROM ImportStagedCopies WHERE ImportID = ? LIMIT ?)",
        (import_id, limit),
    ).rowcount
    if deleted < limit:
        deleted += conn.execute(
            "DELETE FROM ImportStagedBooks WHERE ImportID = ? AND Seq IN "
            "(SELECT Seq FROM ImportStagedBooks WHERE ImportID = ? LIMIT ?)",
            (import_id, import_id, limit - deleted),
        ).rowcount
    if deleted == limit:
        return False
    if run["Status"] != "published" and run["BarcodeFrom"] is not None:
        conn.execute(
            "UPDATE LibrarySettings SET Value = ? WHERE Key = 'barcode_next' AND Value = ?",
            (str(run["BarcodeFrom"]), str(run["BarcodeTo"])),
        )
    conn.execute("DELETE FROM ImportRuns WHERE ImportID = ?", (import_id,))
    return True


def discard_steps(import_ids: list[int]) -> Steps:
    for import_id in import_ids:
        while not (yield Step(discard_some, (import_id,))):
            pass


def cleanup_steps(source: str | None = None) -> Steps:
    """Discard published, abandoned and replaced runs (at the start of every import, and
    nightly); returns their ids."""
    import_ids = yield Step(runs_to_discard, (utc_now(), source))
    yield from discard_steps(import_ids)
    return import_ids


def _code_taken(conn: sqlite3.Connection, import_id: int, code: str) -> bool:
    return codes.code_taken(conn, code) or (
        conn.execute(
            "SELECT 1 FROM ImportStagedCopies WHERE ImportID = ? AND Barcode = ?",
            (import_id, code),
        ).fetchone()
        is not None
    )


def generate_some(conn: sqlite3.Connection, import_id: int, limit: int = GENERATE_BOOKS) -> bool:
    """Give up to ``limit`` staged books the generated barcodes they need; True when none
    is left. Each number is checked against copies, cards and this import's own barcodes."""
    books = conn.execute(
        "SELECT Seq, ToGenerate FROM ImportStagedBooks "
        "WHERE ImportID = ? AND ToGenerate > 0 ORDER BY Seq LIMIT ?",
        (import_id, limit),
    ).fetchall()
    if not books:
        return True
    settings = dict(
        conn.execute(
            "SELECT Key, Value FROM LibrarySettings WHERE Key IN ('barcode_prefix', 'barcode_next')"
        ).fetchall()
    )
    prefix, number = settings["barcode_prefix"], int(settings["barcode_next"])
    conn.execute(
        "UPDATE ImportRuns SET BarcodeFrom = coalesce(BarcodeFrom, ?) WHERE ImportID = ?",
        (number, import_id),
    )
    for book in books:
        for _ in range(book["ToGenerate"]):
            while _code_taken(conn, import_id, f"{prefix}{number}"):
                number += 1
            conn.execute(
                "INSERT INTO ImportStagedCopies (ImportID, Seq, Barcode) VALUES (?, ?, ?)",
                (import_id, book["Seq"], f"{prefix}{number}"),
            )
            number += 1
        conn.execute(
            "UPDATE ImportStagedBooks SET ToGenerate = 0 WHERE ImportID = ? AND Seq = ?",
            (import_id, book["Seq"]),
        )
    conn.execute("UPDATE LibrarySettings SET Value = ? WHERE Key = 'barcode_next'", (str(number),))
    conn.execute("UPDATE ImportRuns SET BarcodeTo = ? WHERE ImportID = ?", (number, import_id))
    touch(conn, import_id)
    return len(books) < limit


_UPDATED = ("Author", "Year", "Language", "Series", "Subjects", "Publisher")


class AlreadyPublishing(ValueError):
    """Another request is publishing this run (a confirm sent twice): leave it be."""


def _clash(error: sqlite3.IntegrityError) -> ValueError:
    """A clash with a row added since the file was checked, in the confirm's words; any
    other failure is not the file's doing and is raised as it is."""
    if not any(word in str(error) for word in ("UNIQUE", "code clash")):
        raise error
    return ValueError(
        f"the catalogue changed while the file was being checked ({error}); show the preview again"
    )


def _last_new_seq(conn: sqlite3.Connection, import_id: int) -> int | None:
    row = conn.execute(
        "SELECT max(Seq) FROM ImportStagedBooks WHERE ImportID = ? AND Action = 'new'",
        (import_id,),
    ).fetchone()
    return row[0]


def _write_new(conn: sqlite3.Connection, import_id: int, base: int, after: int, upto: int) -> int:
    """Write the staged new books with ``after < Seq <= upto``, and their copies, into
    Books and Copies, invisible (ImportID set); returns the copies written."""
    try:
        conn.execute(
            "INSERT INTO Books (BookID, Title, Author, ISBN, Year, Language, Series, Subjects, "
            "Publisher, ImportID) "
            "SELECT ? + NewIndex, Title, Author, ISBN, Year, Language, Series, Subjects, "
            "Publisher, ImportID FROM ImportStagedBooks "
            "WHERE ImportID = ? AND Action = 'new' AND Seq > ? AND Seq <= ? ORDER BY Seq",
            (base, import_id, after, upto),
        )
        return conn.execute(
            "INSERT INTO Copies (BookID, Barcode, Location, ItemTypeID) "
            "SELECT ? + b.NewIndex, c.Barcode, b.Location, "
            "coalesce(b.ItemTypeID, (SELECT ItemTypeID FROM ItemTypes WHERE IsDefault = 1)) "
            "FROM ImportStagedCopies c "
            "JOIN ImportStagedBooks b ON b.ImportID = c.ImportID AND b.Seq = c.Seq "
            "WHERE c.ImportID = ? AND c.Seq > ? AND c.Seq <= ? ORDER BY c.Seq, c.rowid",
            (base, import_id, after, upto),
        ).rowcount
    except sqlite3.IntegrityError as error:
        raise _clash(error) from error


def begin_publication(conn: sqlite3.Connection, import_id: int, holder: str) -> int:
    """Claim the staged run for publication and write its last new book (and copies)
    first, which reserves the BookIDs of all its new books: a book added by hand
    meanwhile gets a BookID above them. Returns the copies written."""
    run = conn.execute(
        "SELECT Status, BookBase FROM ImportRuns WHERE ImportID = ?", (import_id,)
    ).fetchone()
    if run is None or run["Status"] != "staged":
        raise ValueError("the checked import is gone; show the preview again")
    if run["BookBase"] is not None:
        raise AlreadyPublishing("this import is already being published")
    base = conn.execute("SELECT coalesce(max(BookID), 0) FROM Books").fetchone()[0]
    # The publisher is the holder from now on: a cleanup elsewhere must not take
    # the run for abandoned because the process that previewed it has gone.
    conn.execute(
        "UPDATE ImportRuns SET BookBase = ?, PublishedSeq = 0, Holder = ?, TouchedAt = ? "
        "WHERE ImportID = ?",
        (base, holder, utc_stamp(utc_now()), import_id),
    )
    last = _last_new_seq(conn, import_id)
    return 0 if last is None else _write_new(conn, import_id, base, last - 1, last)


def publish_some(
    conn: sqlite3.Connection, import_id: int, limit: int = PUBLISH_ROWS
) -> tuple[bool, int]:
    """Write up to ``limit`` more of the run's new books, and their copies, still
    invisible; returns whether all are written, and the copies written."""
    run = conn.execute(
        "SELECT Status, BookBase, PublishedSeq FROM ImportRuns WHERE ImportID = ?", (import_id,)
    ).fetchone()
    if run is None or run["Status"] != "staged" or run["BookBase"] is None:
        raise ValueError("the checked import is gone; show the preview again")
    last = _last_new_seq(conn, import_id)
    upto = conn.execute(
        "SELECT max(Seq) FROM (SELECT Seq FROM ImportStagedBooks "
        "WHERE ImportID = ? AND Action = 'new' AND Seq > ? AND Seq < ? ORDER BY Seq LIMIT ?)",
        (import_id, run["PublishedSeq"], last, limit),
    ).fetchone()[0]
    if upto is None:
        return True, 0
    copies = _write_new(conn, import_id, run["BookBase"], run["PublishedSeq"], upto)
    conn.execute(
        "UPDATE ImportRuns SET PublishedSeq = ?, TouchedAt = ? WHERE ImportID = ?",
        (upto, utc_stamp(utc_now()), import_id),
    )
    return False, copies


def make_visible(conn: sqlite3.Connection, import_id: int) -> None:
    """The flip: apply the changes to known books and mark the run published, in one
    transaction. Its new books, written already, become visible at once; its cost is
    the number of *changed* books, not of new ones."""
    run = conn.execute(
        "SELECT Status, BookBase FROM ImportRuns WHERE ImportID = ?", (import_id,)
    ).fetchone()
    if run is None or run["Status"] != "staged" or run["BookBase"] is None:
        raise ValueError("the checked import is gone; show the preview again")
    assignments = ", ".join(
        f"{column} = coalesce(s.{column}, Books.{column})" for column in _UPDATED
    )
    conn.execute(
        f"UPDATE Books SET {assignments} FROM ImportStagedBooks s "
        "WHERE s.ImportID = ? AND s.Action = 'update' AND Books.BookID = s.BookID",
        (import_id,),
    )
    conn.execute("UPDATE ImportRuns SET Status = 'published' WHERE ImportID = ?", (import_id,))
    # Searches cached while the rows were written were answered without them.
    conn.execute("UPDATE SearchVersions SET Catalogue = Catalogue + 1")


def publish_steps(import_id: int, holder: str) -> Steps:
    """Generate the barcodes still needed, write the new rows invisibly in short
    transactions, flip them visible in one tiny one, then clear their ImportID and
    discard the staged rows (short transactions again). Returns the copies added.

    The catalogue may have changed since the rows were checked (a book with the
    same ISBN, a copy with the same barcode added by hand): the database's
    constraints then refuse a chunk, and the caller discards what was written.
    """
    while not (yield Step(generate_some, (import_id,))):
        pass
    copies = yield Step(begin_publication, (import_id, holder))
    while True:
        done, written = yield Step(publish_some, (import_id,))
        copies += written
        if done:
            break
    yield Step(make_visible, (import_id,))
    yield from discard_steps([import_id])
    return copies
