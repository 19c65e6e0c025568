"""Stocktakes: start one, scan copies into it, watch its progress, close it, act on the report.

What a scan found is decided by the pure rules of ``webapp.stocktake_rules``; this module
loads what they need and records the answer. A copy counts once per stocktake: the
unique index ``StocktakeScans_OncePerCopy`` says so, not a check here, so two staff
scanning the same copy at the same instant (two devices, or two server workers) both
insert and one of them is told "already counted". Every scan is one write transaction,
like a desk scan: the copy's lookup, the scan row and its event.

Closing keeps the missing set (``StocktakeMissing``) as it was then, so "mark the missing
as lost" acts on exactly the copies the report listed, never on a copy lent or found
since. A copy scanned on loan is checked in, and a lost copy found is returned to stock,
through the desk's own path (``loans.return_copy``, which hands a lost copy to
``loans._found`` and any copy to the hold queue).

Copies are read through the catalogue's views (CatalogueCopies, CatalogueBooks: migration
0017), so the copies of an import still being published are neither expected on the
shelves nor counted when scanned (an unknown code) until users can see them.

Callers: webapp/views/stocktake.py (``await db.write(stocktake.scan, ...)``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from webapp import stocktake_rules as rules
from webapp.models import events, loans
from webapp.models.holds import DEFAULT_LIBRARY_NAME

# What an action that changed nothing ran into; the views answer each with its status.
NOT_FOUND = "not_found"  # no such stocktake (404)
CONFLICT = "conflict"  # it is closed, or still open, or already done (409)
REFUSED = "refused"  # the request itself is wrong (422)


@dataclass(frozen=True)
class Stocktake:
    stocktake_id: int
    name: str
    scope: rules.Scope
    state: str
    started_by: str | None
    started_at: str
    closed_by: str | None
    closed_at: str | None
    marked_lost_at: str | None
    counted: int  # copies scanned so far

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    @property
    def scope_text(self) -> str:
        if self.scope.whole_library:
            return "The whole library"
        return ", ".join(sorted(self.scope.locations))


@dataclass(frozen=True)
class Answer:
    """What an action did (``problem`` None) or why it did nothing, in words for the page."""

    message: str
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class ScanAnswer:
    """What a scan found. ``result`` is one of ``stocktake_rules.RESULTS`` or ``ALREADY``;
    ``offer`` is what the scan log offers to do next: "check_in" (a copy on loan) or
    "return_to_stock" (a lost copy found), with the copy's ``barcode``."""

    result: str
    message: str
    counted: int = 0
    barcode: str | None = None
    offer: str | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class LocationProgress:
    location: str | None
    expected: int  # copies the stocktake expects on this shelf (in stock, not on loan)
    seen: int  # of those, scanned

    @property
    def percent(self) -> int:
        return rules.percent(self.seen, self.expected)


@dataclass(frozen=True)
class Progress:
    locations: list[LocationProgress]
    by_result: dict[str, int]  # scans by what they found

    @property
    def expected(self) -> int:
        return sum(row.expected for row in self.locations)

    @property
    def seen(self) -> int:
        return sum(row.seen for row in self.locations)

    @property
    def percent(self) -> int:
        return rules.percent(self.seen, self.expected)


@dataclass(frozen=True)
class ReportLine:
    """One copy (or unknown code) in a report section."""

    code: str
    title: str | None
    author: str | None
    location: str | None  # where the copy belongs
    shelf: str | None  # where it was scanned, when the scanner said
    status: str | None  # the copy's status now: in_stock, withdrawn, lost; "on_loan" if out
    scanned_by: str | None
    scanned_at: str | None


@dataclass(frozen=True)
class Report:
    stocktake: Stocktake
    missing: list[ReportLine]
    misplaced: list[ReportLine]
    found: list[ReportLine]
    on_loan: list[ReportLine]
    withdrawn: list[ReportLine]
    unknown: list[ReportLine]


def locations(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """Every shelf location some copy has, with its number of copies, in order."""
    rows = conn.execute(
        "SELECT Location, count(*) FROM CatalogueCopies WHERE Location IS NOT NULL "
        "GROUP BY Location ORDER BY Location"
    )
    return [(row[0], row[1]) for row in rows]


_STOCKTAKE = """
    SELECT s.*, starter.Name AS StarterName, closer.Name AS CloserName,
           (SELECT group_concat(Location, char(31)) FROM StocktakeLocations l
            WHERE l.StocktakeID = s.StocktakeID) AS Locations
    FROM Stocktakes s
    LEFT JOIN Users starter ON starter.UserID = s.StartedBy
    LEFT JOIN Users closer ON closer.UserID = s.ClosedBy
"""


def _stocktake(row: sqlite3.Row) -> Stocktake:
    chosen = frozenset(row["Locations"].split("\x1f")) if row["Locations"] else frozenset()
    return Stocktake(
        stocktake_id=row["StocktakeID"],
        name=row["Name"],
        scope=rules.Scope(bool(row["WholeLibrary"]), chosen),
        state=row["State"],
        started_by=row["StarterName"],
        started_at=row["StartedAt"],
        closed_by=row["CloserName"],
        closed_at=row["ClosedAt"],
        marked_lost_at=row["MarkedLostAt"],
        counted=row["Counted"],
    )


def get(conn: sqlite3.Connection, stocktake_id: int) -> Stocktake | None:
    row = conn.execute(f"{_STOCKTAKE} WHERE s.StocktakeID = ?", (stocktake_id,)).fetchone()
    return None if row is None else _stocktake(row)


def all_stocktakes(conn: sqlite3.Connection) -> list[Stocktake]:
    """Every stocktake, the open ones first, newest first."""
    rows = conn.execute(f"{_STOCKTAKE} ORDER BY s.State = 'closed', s.StocktakeID DESC")
    return [_stocktake(row) for row in rows]


def start(conn: sqlite3.Connection, *, name: str, scope: rules.Scope, actor_id: int) -> int:
    """Start a stocktake of ``scope`` (checked by ``stocktake_rules.check_scope``)."""
    stocktake_id = conn.execute(
        "INSERT INTO Stocktakes (Name, WholeLibrary, StartedBy) VALUES (?, ?, ?)",
        (name, int(scope.whole_library), actor_id),
    ).lastrowid
    assert stocktake_id is not None
    conn.executemany(
        "INSERT INTO StocktakeLocations (StocktakeID, Location) VALUES (?, ?)",
        [(stocktake_id, location) for location in sorted(scope.locations)],
    )
    what = "the whole library" if scope.whole_library else ", ".join(sorted(scope.locations))
    events.log(
        conn,
        "stocktake_started",
        actor_id,
        detail=f"Stocktake {stocktake_id} “{name}”: {what}",
    )
    return stocktake_id


def _counted(conn: sqlite3.Connection, stocktake_id: int) -> int:
    """Copies scanned so far (``Stocktakes.Counted``, kept by triggers on the scans)."""
    return conn.execute(
        "SELECT Counted FROM Stocktakes WHERE StocktakeID = ?", (stocktake_id,)
    ).fetchone()[0]


def _open_stocktake(conn: sqlite3.Connection, stocktake_id: int) -> Stocktake | Answer:
    found = get(conn, stocktake_id)
    if found is None:
        return Answer("There is no such stocktake.", NOT_FOUND)
    if not found.is_open:
        return Answer(f"The stocktake “{found.name}” is closed: nothing more is counted.", CONFLICT)
    return found


def scan(
    conn: sqlite3.Connection,
    *,
    stocktake_id: int,
    code: str,
    shelf: str | None,
    actor_id: int,
) -> ScanAnswer:
    """Count the copy with barcode ``code`` (or record an unknown code) in the stocktake.

    ``shelf`` is the location the scanner is at (None: not said); a copy that belongs
    elsewhere is misplaced. A second scan of a copy or code changes nothing.
    """
    stocktake = _open_stocktake(conn, stocktake_id)
    if isinstance(stocktake, Answer):
        return ScanAnswer("refused", stocktake.message, problem=stocktake.problem)
    if (
        shelf is not None
        and not conn.execute(
            "SELECT 1 FROM CatalogueCopies WHERE Location = ? LIMIT 1", (shelf,)
        ).fetchone()
    ):
        refusal = f"No copy belongs at “{shelf}”: choose a shelf from the list."
        return ScanAnswer("refused", refusal, problem=REFUSED)
    copy = conn.execute(
        "SELECT c.CopyID, c.BookID, c.Barcode, c.Status, c.Location, b.Title, "
        "EXISTS (SELECT 1 FROM Loans l WHERE l.CopyID = c.CopyID AND l.ReturnedAt IS NULL) "
        "AS OnLoan FROM CatalogueCopies c JOIN CatalogueBooks b ON b.BookID = c.BookID "
        "WHERE c.Barcode = ?",
        (code,),
    ).fetchone()
    state = (
        None
        if copy is None
        else rules.ScannedCopy(copy["Status"], copy["Location"], bool(copy["OnLoan"]))
    )
    result = rules.classify(state, stocktake.scope, shelf)
    barcode = copy["Barcode"] if copy else code
    recorded = conn.execute(
        "INSERT INTO StocktakeScans (StocktakeID, CopyID, Code, Result, Shelf, ScannedBy) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (
            stocktake_id,
            copy["CopyID"] if copy else None,
            barcode,
            result,
            shelf,
            actor_id,
        ),
    ).rowcount
    if not recorded:
        return _already(conn, stocktake_id, copy, code)
    title = copy["Title"] if copy else ""
    where = copy["Location"] if copy else None
    detail = f"Stocktake {stocktake_id} “{stocktake.name}”: {rules.RESULT_LABELS[result].lower()}"
    if result == rules.MISPLACED:
        detail += f", belongs at {where or 'no location'}"
    if shelf:
        detail += f", scanned at {shelf}"
    if copy is None:
        detail += f": “{code}”"
    events.log(
        conn,
        "stocktake_scan",
        actor_id,
        book_id=copy["BookID"] if copy else None,
        copy_id=copy["CopyID"] if copy else None,
        detail=detail,
    )
    offer = {rules.ON_LOAN: "check_in", rules.LOST: "return_to_stock"}.get(result)
    return ScanAnswer(
        result,
        rules.describe(result, title, barcode, where),
        _counted(conn, stocktake_id),
        barcode,
        offer,
    )


def _already(
    conn: sqlite3.Connection, stocktake_id: int, copy: sqlite3.Row | None, code: str
) -> ScanAnswer:
    first = conn.execute(
        "SELECT s.Result, u.Name FROM StocktakeScans s LEFT JOIN Users u ON u.UserID = s.ScannedBy "
        "WHERE s.StocktakeID = ? AND "
        + ("s.CopyID = ?" if copy else "s.CopyID IS NULL AND s.Code = ? COLLATE NOCASE"),
        (stocktake_id, copy["CopyID"] if copy else code),
    ).fetchone()
    what = f"{copy['Title']} ({copy['Barcode']})" if copy else f"The unknown code “{code}”"
    return ScanAnswer(
        rules.ALREADY,
        f"Already counted: {what} was scanned before by {first['Name']} "
        f"({rules.RESULT_LABELS[first['Result']].lower()}). It counts once.",
        _counted(conn, stocktake_id),
        copy["Barcode"] if copy else code,
    )


def check_in(
    conn: sqlite3.Connection,
    *,
    stocktake_id: int,
    code: str,
    actor_id: int,
    today: date,
    library_name: str = DEFAULT_LIBRARY_NAME,
) -> Answer:
    """Check in a copy this stocktake found on the shelf while on loan, or return a lost
    copy it found to stock: the desk's return (``loans.return_copy``), holds and all."""
    stocktake = _open_stocktake(conn, stocktake_id)
    if isinstance(stocktake, Answer):
        return stocktake
    scanned = conn.execute(
        "SELECT c.Barcode FROM StocktakeScans s JOIN Copies c ON c.CopyID = s.CopyID "
        "WHERE s.StocktakeID = ? AND c.Barcode = ?",
        (stocktake_id, code),
    ).fetchone()
    if scanned is None:
        return Answer(f"“{code}” has not been scanned in this stocktake: scan it first.", REFUSED)
    outcome = loans.return_copy(
        conn, barcode=scanned["Barcode"], actor_id=actor_id, today=today, library_name=library_name
    )
    if not outcome.ok:
        return Answer(outcome.message, CONFLICT)
    return Answer(outcome.message)


_EXPECTED_COPIES = """
    FROM CatalogueCopies c
    LEFT JOIN StocktakeScans s ON s.StocktakeID = :id AND s.CopyID = c.CopyID
    WHERE c.Status = 'in_stock' {scope}
      AND NOT EXISTS (SELECT 1 FROM Loans l WHERE l.CopyID = c.CopyID AND l.ReturnedAt IS NULL)
"""
_IN_LOCATIONS = (
    "AND c.Location IN (SELECT Location FROM StocktakeLocations WHERE StocktakeID = :id)"
)


def _expected_copies(stocktake: Stocktake) -> str:
    """The FROM and WHERE of the copies ``stocktake`` expects on the shelves, each with its
    scan (``s``, NULL: not scanned); a whole-library stocktake reads no location list."""
    return _EXPECTED_COPIES.format(scope="" if stocktake.scope.whole_library else _IN_LOCATIONS)


def progress(conn: sqlite3.Connection, stocktake: Stocktake) -> Progress:
    """Copies expected and scanned, by location, as the records stand now (a copy lent or
    checked in meanwhile moves in or out of "expected"); and the scans by what they found.

    Counted as the copies in stock with their scans, less those of them on loan: one
    index lookup per copy (its scan) and a few per loan, instead of two per copy (its
    scan and its loan), which halved the time at 50,000 copies (docs/benchmarks.md).
    """
    scope = "" if stocktake.scope.whole_library else _IN_LOCATIONS
    parameters = {"id": stocktake.stocktake_id}
    scanned = "LEFT JOIN StocktakeScans s ON s.StocktakeID = :id AND s.CopyID = c.CopyID"
    in_stock = conn.execute(
        f"SELECT c.Location, count(*), count(s.CopyID) FROM CatalogueCopies c {scanned} "
        f"WHERE c.Status = 'in_stock' {scope} GROUP BY c.Location",
        parameters,
    ).fetchall()
    out = {
        row[0]: (row[1], row[2])
        for row in conn.execute(
            "SELECT c.Location, count(*), count(s.CopyID) FROM Loans l "
            f"JOIN Copies c ON c.CopyID = l.CopyID {scanned} "
            f"WHERE l.ReturnedAt IS NULL AND c.Status = 'in_stock' {scope} GROUP BY c.Location",
            parameters,
        )
    }
    counts = {
        location: (total - out.get(location, (0, 0))[0], seen - out.get(location, (0, 0))[1])
        for location, total, seen in in_stock
    }
    if not stocktake.scope.whole_library:
        # A chosen location whose copies are all out (or gone) still has its row.
        for location in stocktake.scope.locations - counts.keys():
            counts[location] = (0, 0)
    by_location = [
        LocationProgress(location, expected, seen)
        for location, (expected, seen) in sorted(
            counts.items(), key=lambda item: (item[0] is None, item[0] or "")
        )
    ]
    by_result = dict.fromkeys(rules.RESULTS, 0)
    for result, count in conn.execute(
        "SELECT Result, count(*) FROM StocktakeScans WHERE StocktakeID = ? GROUP BY Result",
        (stocktake.stocktake_id,),
    ):
        by_result[result] = count
    return Progress(by_location, by_result)


def _missing_now(conn: sqlite3.Connection, stocktake: Stocktake) -> list[int]:
    return [
        row[0]
        for row in conn.execute(
            f"SELECT c.CopyID {_expected_copies(stocktake)} AND s.ScanID IS NULL ORDER BY c.CopyID",
            {"id": stocktake.stocktake_id},
        )
    ]


def close(conn: sqlite3.Connection, *, stocktake_id: int, actor_id: int) -> Answer:
    """Close the stocktake and keep its missing copies (expected, not scanned, not on loan)."""
    stocktake = _open_stocktake(conn, stocktake_id)
    if isinstance(stocktake, Answer):
        return stocktake
    missing = _missing_now(conn, stocktake)
    conn.executemany(
        "INSERT INTO StocktakeMissing (StocktakeID, CopyID) VALUES (?, ?)",
        [(stocktake_id, copy_id) for copy_id in missing],
    )
    conn.execute(
        "UPDATE Stocktakes SET State = 'closed', ClosedBy = ?, "
        "ClosedAt = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE StocktakeID = ?",
        (actor_id, stocktake_id),
    )
    counted = _counted(conn, stocktake_id)
    events.log(
        conn,
        "stocktake_closed",
        actor_id,
        detail=f"Stocktake {stocktake_id} “{stocktake.name}”: {counted} counted, "
        f"{len(missing)} missing",
    )
    return Answer(f"Closed “{stocktake.name}”: {_copies(counted)} counted, {len(missing)} missing.")


def _copies(count: int) -> str:
    return f"{count} {'copy' if count == 1 else 'copies'}"


def mark_missing_lost(conn: sqlite3.Connection, *, stocktake_id: int, actor_id: int) -> Answer:
    """Record as lost every copy the closed stocktake found missing, in one transaction.

    A copy that has turned up since (lent, scanned at the desk, withdrawn by hand) is
    left as it is. Done once per stocktake; each copy's change is in its event log.
    """
    stocktake = get(conn, stocktake_id)
    if stocktake is None:
        return Answer("There is no such stocktake.", NOT_FOUND)
    if stocktake.is_open:
        return Answer("Close the stocktake first: the missing are known only then.", CONFLICT)
    if stocktake.marked_lost_at:
        return Answer("The missing copies of this stocktake were marked lost already.", CONFLICT)
    rows = conn.execute(
        "SELECT c.CopyID, c.BookID FROM StocktakeMissing m JOIN Copies c ON c.CopyID = m.CopyID "
        "WHERE m.StocktakeID = ? AND c.Status = 'in_stock' AND NOT EXISTS "
        "(SELECT 1 FROM Loans l WHERE l.CopyID = c.CopyID AND l.ReturnedAt IS NULL) "
        "ORDER BY c.CopyID",
        (stocktake_id,),
    ).fetchall()
    listed = conn.execute(
        "SELECT count(*) FROM StocktakeMissing WHERE StocktakeID = ?", (stocktake_id,)
    ).fetchone()[0]
    for row in rows:
        conn.execute("UPDATE Copies SET Status = 'lost' WHERE CopyID = ?", (row["CopyID"],))
        events.log(
            conn,
            "copy_status",
            actor_id,
            book_id=row["BookID"],
            copy_id=row["CopyID"],
            detail=f"in_stock -> lost: missing in stocktake {stocktake_id} “{stocktake.name}”",
        )
    conn.execute(
        "UPDATE Stocktakes SET MarkedLostAt = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') "
        "WHERE StocktakeID = ?",
        (stocktake_id,),
    )
    events.log(
        conn,
        "stocktake_marked_lost",
        actor_id,
        detail=f"Stocktake {stocktake_id} “{stocktake.name}”: {len(rows)} of {listed} missing "
        "copies marked lost",
    )
    message = f"Marked {len(rows)} missing {'copy' if len(rows) == 1 else 'copies'} lost."
    if listed > len(rows):
        message += (
            f" {listed - len(rows)} had turned up since the close (lent, returned or changed) "
            "and were left as they are."
        )
    return Answer(message)


_LINE = """
    SELECT {code} AS Code, b.Title, b.Author, c.Location, {shelf} AS Shelf,
           CASE WHEN c.CopyID IS NULL THEN NULL
                WHEN EXISTS (SELECT 1 FROM Loans l
                             WHERE l.CopyID = c.CopyID AND l.ReturnedAt IS NULL)
                THEN 'on_loan' ELSE c.Status END AS Status,
           {by} AS ScannedBy, {at} AS ScannedAt
"""


def _lines(rows) -> list[ReportLine]:
    return [
        ReportLine(
            code=row["Code"],
            title=row["Title"],
            author=row["Author"],
            location=row["Location"],
            shelf=row["Shelf"],
            status=row["Status"],
            scanned_by=row["ScannedBy"],
            scanned_at=row["ScannedAt"],
        )
        for row in rows
    ]


def _scanned(conn: sqlite3.Connection, stocktake_id: int, result: str) -> list[ReportLine]:
    select = _LINE.format(code="s.Code", shelf="s.Shelf", by="u.Name", at="s.ScannedAt")
    return _lines(
        conn.execute(
            f"{select} FROM StocktakeScans s LEFT JOIN Copies c ON c.CopyID = s.CopyID "
            "LEFT JOIN Books b ON b.BookID = c.BookID LEFT JOIN Users u ON u.UserID = s.ScannedBy "
            "WHERE s.StocktakeID = ? AND s.Result = ? ORDER BY c.Location, b.Title, s.Code",
            (stocktake_id, result),
        )
    )


def report(conn: sqlite3.Connection, stocktake_id: int) -> Report | None:
    """The stocktake's report: the missing (as kept at the close; while it is open, as they
    would be if it closed now), and the copies its scans found out of place."""
    stocktake = get(conn, stocktake_id)
    if stocktake is None:
        return None
    select = _LINE.format(code="c.Barcode", shelf="NULL", by="NULL", at="NULL")
    if stocktake.is_open:
        source = (
            f"FROM Copies c JOIN Books b ON b.BookID = c.BookID WHERE c.CopyID IN "
            f"(SELECT c.CopyID {_expected_copies(stocktake)} AND s.ScanID IS NULL)"
        )
    else:
        source = (
            "FROM StocktakeMissing m JOIN Copies c ON c.CopyID = m.CopyID "
            "JOIN Books b ON b.BookID = c.BookID WHERE m.StocktakeID = :id"
        )
    missing = _lines(
        conn.execute(
            f"{select} {source} ORDER BY c.Location IS NULL, c.Location, b.Title, c.Barcode",
            {"id": stocktake_id},
        )
    )
    return Report(
        stocktake=stocktake,
        missing=missing,
        misplaced=_scanned(conn, stocktake_id, rules.MISPLACED),
        found=_scanned(conn, stocktake_id, rules.LOST),
        on_loan=_scanned(conn, stocktake_id, rules.ON_LOAN),
        withdrawn=_scanned(conn, stocktake_id, rules.WITHDRAWN),
        unknown=_scanned(conn, stocktake_id, rules.UNKNOWN),
    )


CSV_COLUMNS = (
    "section",
    "barcode",
    "title",
    "author",
    "belongs_at",
    "scanned_at_shelf",
    "status_now",
    "scanned_by",
    "scanned_at",
)


def report_rows(found: Report) -> Iterator[tuple]:
    """The report as CSV rows (``CSV_COLUMNS``), section by section."""
    sections = (
        ("missing", found.missing),
        ("misplaced", found.misplaced),
        ("found", found.found),
        ("on_loan", found.on_loan),
        ("withdrawn", found.withdrawn),
        ("unknown", found.unknown),
    )
    for section, lines in sections:
        for line in lines:
            yield (
                section,
                line.code,
                line.title,
                line.author,
                line.location,
                line.shelf,
                line.status,
                line.scanned_by,
                line.scanned_at,
            )
