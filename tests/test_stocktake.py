"""Stocktakes without a server: what a scan is, counting once, the missing set, marking lost.

The rules (webapp/stocktake_rules.py) are pure; the model (webapp/models/stocktake.py)
runs on a real SQLite file, each action in its own write transaction as the app runs it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from webapp import stocktake_rules as rules
from webapp.db import Database, connect_sync
from webapp.models import stocktake

TODAY = date(2026, 11, 29)
SHELF_A, SHELF_B, SHELF_C = "Fiction A–F", "Fiction G–M", "Reference"


def write(conn: sqlite3.Connection, function: Callable, **arguments):
    """Run a model action as ``Database.write`` does: one ``BEGIN IMMEDIATE`` transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = function(conn, **arguments)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return result


@pytest.fixture
def conn(database_path: Path):
    connection = connect_sync(database_path)
    yield connection
    connection.close()


@pytest.fixture
def library(conn: sqlite3.Connection) -> dict[str, int]:
    """Staff and a patron; copies on shelves A, B and C in every state a stocktake meets.

    On A: A1 and A2 on the shelf, A3 on loan, A4 withdrawn, A5 lost. On B: B1 and B2 on
    the shelf. On C: C1. One copy, N1, has no location.
    """
    ids = {
        "bob": conn.execute(
            "INSERT INTO Users (Name, Role) VALUES ('Bob Brown', 'Librarian')"
        ).lastrowid,
        "cat": conn.execute(
            "INSERT INTO Users (Name, Role) VALUES ('Cat Cole', 'Librarian')"
        ).lastrowid,
        "pupil": conn.execute(
            "INSERT INTO Users (Name, Role, CardNumber) VALUES ('Pia Pupil', 'Student', 'S1')"
        ).lastrowid,
    }
    for barcode, location, status in [
        ("A1", SHELF_A, "in_stock"),
        ("A2", SHELF_A, "in_stock"),
        ("A3", SHELF_A, "in_stock"),
        ("A4", SHELF_A, "withdrawn"),
        ("A5", SHELF_A, "lost"),
        ("B1", SHELF_B, "in_stock"),
        ("B2", SHELF_B, "in_stock"),
        ("C1", SHELF_C, "in_stock"),
        ("N1", None, "in_stock"),
    ]:
        book_id = conn.execute(
            "INSERT INTO Books (Title, Author) VALUES (?, 'An Author')", (f"Book {barcode}",)
        ).lastrowid
        ids[barcode] = conn.execute(
            "INSERT INTO Copies (BookID, Barcode, Location, Status) VALUES (?, ?, ?, ?)",
            (book_id, barcode, location, status),
        ).lastrowid
    lend(conn, ids["pupil"], ids["A3"])
    return ids


def lend(conn: sqlite3.Connection, user_id: int, copy_id: int) -> None:
    conn.execute(
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) "
        "SELECT ?, BookID, CopyID, '2026-11-20', '2026-12-04' FROM Copies WHERE CopyID = ?",
        (user_id, copy_id),
    )


def start(conn, library, *locations: str, name: str = "Autumn") -> int:
    scope = rules.Scope(not locations, frozenset(locations))
    return write(conn, stocktake.start, name=name, scope=scope, actor_id=library["bob"])


def scan(conn, library, stocktake_id: int, code: str, shelf: str | None = None, by: str = "bob"):
    return write(
        conn,
        stocktake.scan,
        stocktake_id=stocktake_id,
        code=code,
        shelf=shelf,
        actor_id=library[by],
    )


def statuses(conn) -> dict[str, str]:
    return dict(conn.execute("SELECT Barcode, Status FROM Copies").fetchall())


# ---------- the rules ----------

ON_A = rules.Scope(False, frozenset({SHELF_A}))


@pytest.mark.parametrize(
    ("copy", "scope", "shelf", "expected"),
    [
        (None, ON_A, None, rules.UNKNOWN),
        (rules.ScannedCopy("in_stock", SHELF_A, False), ON_A, None, rules.EXPECTED),
        (rules.ScannedCopy("in_stock", SHELF_A, False), ON_A, SHELF_A, rules.EXPECTED),
        (rules.ScannedCopy("in_stock", SHELF_B, False), ON_A, None, rules.MISPLACED),
        (
            rules.ScannedCopy("in_stock", SHELF_B, False),
            rules.Scope(True),
            SHELF_A,
            rules.MISPLACED,
        ),
        (rules.ScannedCopy("in_stock", None, False), rules.Scope(True), SHELF_A, rules.MISPLACED),
        (rules.ScannedCopy("in_stock", None, False), rules.Scope(True), None, rules.EXPECTED),
        (rules.ScannedCopy("in_stock", None, False), ON_A, None, rules.MISPLACED),
        (rules.ScannedCopy("in_stock", SHELF_A, True), ON_A, SHELF_A, rules.ON_LOAN),
        (rules.ScannedCopy("withdrawn", SHELF_A, False), ON_A, SHELF_A, rules.WITHDRAWN),
        (rules.ScannedCopy("lost", SHELF_B, False), ON_A, SHELF_A, rules.LOST),
        # Marked lost while on loan, and now in the scanner's hand: found.
        (rules.ScannedCopy("lost", SHELF_A, True), ON_A, SHELF_A, rules.LOST),
    ],
)
def test_a_scanned_copy_is_classified(copy, scope, shelf, expected):
    assert rules.classify(copy, scope, shelf) == expected


def test_only_copies_in_stock_not_on_loan_and_in_scope_are_expected():
    assert rules.is_expected("in_stock", SHELF_A, False, ON_A)
    assert not rules.is_expected("in_stock", SHELF_A, True, ON_A)
    assert not rules.is_expected("lost", SHELF_A, False, ON_A)
    assert not rules.is_expected("withdrawn", SHELF_A, False, ON_A)
    assert not rules.is_expected("in_stock", SHELF_B, False, ON_A)
    assert rules.is_expected("in_stock", None, False, rules.Scope(True))


def test_a_stocktake_needs_a_name_and_a_real_scope():
    assert rules.check_name("  Summer   term ") == ("Summer term", None)
    assert "name" in rules.check_name("   ")[1]
    assert "at most 100" in rules.check_name("x" * 101)[1]
    assert rules.check_scope(True, [], []) == (rules.Scope(True), None)
    assert "at least one" in rules.check_scope(False, [], [SHELF_A])[1]
    assert "Nowhere" in rules.check_scope(False, ["Nowhere"], [SHELF_A])[1]
    assert rules.check_scope(False, [SHELF_A], [SHELF_A, SHELF_B]) == (ON_A, None)


def test_the_scan_log_says_where_a_misplaced_copy_belongs_and_what_to_do():
    assert "belongs at Reference" in rules.describe(rules.MISPLACED, "T", "X1", "Reference")
    assert "check it in?" in rules.describe(rules.ON_LOAN, "T", "X1", SHELF_A)
    assert "Return it to stock?" in rules.describe(rules.LOST, "T", "X1", SHELF_A)
    assert "no copy has it" in rules.describe(rules.UNKNOWN, "", "ZZ", None)


# ---------- scanning ----------


def test_each_scan_says_what_the_copy_is_and_counts_it(conn, library):
    stocktake_id = start(conn, library, SHELF_A)
    answers = {
        code: scan(conn, library, stocktake_id, code, SHELF_A)
        for code in ("A1", "B1", "A3", "A4", "A5", "NOPE-1")
    }
    assert {code: answer.result for code, answer in answers.items()} == {
        "A1": rules.EXPECTED,
        "B1": rules.MISPLACED,
        "A3": rules.ON_LOAN,
        "A4": rules.WITHDRAWN,
        "A5": rules.LOST,
        "NOPE-1": rules.UNKNOWN,
    }
    assert "belongs at Fiction G–M" in answers["B1"].message
    assert answers["A3"].offer == "check_in" and answers["A5"].offer == "return_to_stock"
    assert answers["A1"].offer is None
    # Copies counted: five (an unknown code is recorded, but is no copy).
    assert answers["NOPE-1"].counted == 5
    found = stocktake.get(conn, stocktake_id)
    progress = stocktake.progress(conn, found)
    # Shelf A expects A1 and A2 (A3 is out, A4 withdrawn, A5 lost): one of two seen.
    assert [(row.location, row.expected, row.seen) for row in progress.locations] == [
        (SHELF_A, 2, 1)
    ]
    assert progress.by_result == {
        "expected": 1,
        "misplaced": 1,
        "on_loan": 1,
        "withdrawn": 1,
        "lost": 1,
        "unknown": 1,
    }
    logged = conn.execute(
        "SELECT count(*) FROM Events WHERE Kind = 'stocktake_scan' AND ActorID = ?",
        (library["bob"],),
    ).fetchone()[0]
    assert logged == 6


def test_a_copy_scanned_twice_counts_once_whoever_scans_it(conn, library):
    stocktake_id = start(conn, library)
    first = scan(conn, library, stocktake_id, "B1")
    again = scan(conn, library, stocktake_id, "b1", by="cat")  # barcodes ignore case
    unknown = [scan(conn, library, stocktake_id, code) for code in ("zz-9", "ZZ-9")]
    assert first.result == rules.EXPECTED and first.counted == 1
    assert again.result == rules.ALREADY and again.counted == 1
    assert "scanned before by Bob Brown" in again.message and "counts once" in again.message
    assert [answer.result for answer in unknown] == [rules.UNKNOWN, rules.ALREADY]
    rows = conn.execute("SELECT Code, ScannedBy FROM StocktakeScans ORDER BY ScanID").fetchall()
    assert [tuple(row) for row in rows] == [("B1", library["bob"]), ("zz-9", library["bob"])]
    # The second scans changed nothing, so they left no event either.
    assert (
        conn.execute("SELECT count(*) FROM Events WHERE Kind = 'stocktake_scan'").fetchone()[0] == 2
    )


async def test_two_scanners_on_two_connections_at_once_count_every_copy_once(
    conn, library, database_path
):
    """Two devices (two writers, as two server workers have) scan the same shelf at the same
    time, each every copy: SQLite's lock and the unique index let each copy count once."""
    codes = [f"R{number:03d}" for number in range(60)]
    book_id = conn.execute("INSERT INTO Books (Title) VALUES ('Racing')").lastrowid
    conn.executemany(
        "INSERT INTO Copies (BookID, Barcode, Location) VALUES (?, ?, ?)",
        [(book_id, code, SHELF_B) for code in codes],
    )
    stocktake_id = start(conn, library, SHELF_B)

    async def scanner(database: Database, who: str, order: list[str]) -> list[str]:
        results = []
        for code in order:
            answer = await database.write(
                stocktake.scan,
                stocktake_id=stocktake_id,
                code=code,
                shelf=SHELF_B,
                actor_id=library[who],
            )
            results.append(answer.result)
        return results

    async with Database(database_path) as one, Database(database_path) as two:
        bob, cat = await asyncio.gather(
            scanner(one, "bob", codes), scanner(two, "cat", list(reversed(codes)))
        )
    assert bob.count(rules.EXPECTED) + cat.count(rules.EXPECTED) == len(codes)
    assert bob.count(rules.ALREADY) + cat.count(rules.ALREADY) == len(codes)
    counted = conn.execute(
        "SELECT count(*), count(DISTINCT CopyID) FROM StocktakeScans WHERE StocktakeID = ?",
        (stocktake_id,),
    ).fetchone()
    assert tuple(counted) == (len(codes), len(codes))
    progress = stocktake.progress(conn, stocktake.get(conn, stocktake_id))
    assert [(row.expected, row.seen) for row in progress.locations] == [(62, 60)]


def test_a_scan_of_an_unknown_or_closed_stocktake_or_shelf_changes_nothing(conn, library):
    missing = scan(conn, library, 999, "A1")
    assert missing.problem == stocktake.NOT_FOUND
    stocktake_id = start(conn, library)
    nowhere = scan(conn, library, stocktake_id, "A1", shelf="Nowhere")
    assert nowhere.problem == stocktake.REFUSED and "Nowhere" in nowhere.message
    write(conn, stocktake.close, stocktake_id=stocktake_id, actor_id=library["bob"])
    closed = scan(conn, library, stocktake_id, "A1")
    assert closed.problem == stocktake.CONFLICT and "closed" in closed.message
    assert conn.execute("SELECT count(*) FROM StocktakeScans").fetchone()[0] == 0


# ---------- checking in and returning to stock ----------


def test_a_copy_found_on_loan_is_checked_in_and_a_lost_one_returned_by_the_desks_path(
    conn, library
):
    stocktake_id = start(conn, library, SHELF_A)
    for code in ("A3", "A5"):
        scan(conn, library, stocktake_id, code, SHELF_A)
    checked_in = write(
        conn,
        stocktake.check_in,
        stocktake_id=stocktake_id,
        code="a3",
        actor_id=library["bob"],
        today=TODAY,
    )
    returned = write(
        conn,
        stocktake.check_in,
        stocktake_id=stocktake_id,
        code="A5",
        actor_id=library["bob"],
        today=TODAY,
    )
    assert checked_in.ok and checked_in.message.startswith("Returned: Book A3")
    assert returned.ok and returned.message.startswith("Found: Book A5")
    assert (
        conn.execute(
            "SELECT count(*) FROM Loans WHERE CopyID = ? AND ReturnedAt IS NULL", (library["A3"],)
        ).fetchone()[0]
        == 0
    )
    assert statuses(conn)["A5"] == "in_stock"
    kinds = conn.execute(
        "SELECT Kind FROM Events WHERE CopyID IN (?, ?) AND Kind IN ('return', 'found') "
        "ORDER BY EventID",
        (library["A3"], library["A5"]),
    ).fetchall()
    assert [row[0] for row in kinds] == ["return", "found"]
    # Both are now expected on shelf A (with A1 and A2), and both were scanned.
    progress = stocktake.progress(conn, stocktake.get(conn, stocktake_id))
    assert [(row.expected, row.seen) for row in progress.locations] == [(4, 2)]


def test_only_a_copy_the_stocktake_scanned_can_be_checked_in_from_it(conn, library):
    stocktake_id = start(conn, library)
    refused = write(
        conn,
        stocktake.check_in,
        stocktake_id=stocktake_id,
        code="A3",
        actor_id=library["bob"],
        today=TODAY,
    )
    assert refused.problem == stocktake.REFUSED
    assert (
        conn.execute(
            "SELECT count(*) FROM Loans WHERE CopyID = ? AND ReturnedAt IS NULL", (library["A3"],)
        ).fetchone()[0]
        == 1
    )


# ---------- closing, the missing, marking them lost ----------


def test_closing_keeps_exactly_the_copies_expected_not_scanned_and_not_on_loan(conn, library):
    stocktake_id = start(conn, library, SHELF_A, SHELF_B)
    scan(conn, library, stocktake_id, "A1", SHELF_A)
    scan(conn, library, stocktake_id, "B2", SHELF_A)  # misplaced, but here: not missing
    scan(conn, library, stocktake_id, "C1", SHELF_A)  # out of scope: misplaced
    answer = write(conn, stocktake.close, stocktake_id=stocktake_id, actor_id=library["cat"])
    assert answer.ok
    assert answer.message == "Closed “Autumn”: 3 copies counted, 2 missing."
    missing = conn.execute(
        "SELECT c.Barcode FROM StocktakeMissing m JOIN Copies c USING (CopyID) "
        "WHERE m.StocktakeID = ? ORDER BY c.Barcode",
        (stocktake_id,),
    ).fetchall()
    # A2 and B1: not A3 (on loan), A4 (withdrawn), A5 (lost), C1 and N1 (not covered).
    assert [row[0] for row in missing] == ["A2", "B1"]
    report = stocktake.report(conn, stocktake_id)
    assert [line.code for line in report.missing] == ["A2", "B1"]
    assert [line.code for line in report.misplaced] == ["B2", "C1"]
    assert report.stocktake.closed_by == "Cat Cole"
    again = write(conn, stocktake.close, stocktake_id=stocktake_id, actor_id=library["cat"])
    assert again.problem == stocktake.CONFLICT
    closed = conn.execute("SELECT Detail FROM Events WHERE Kind = 'stocktake_closed'").fetchall()
    assert [row[0] for row in closed] == [
        f"Stocktake {stocktake_id} “Autumn”: 3 counted, 2 missing"
    ]


def test_an_open_stocktakes_report_lists_what_would_be_missing_now(conn, library):
    stocktake_id = start(conn, library)
    scan(conn, library, stocktake_id, "A1")
    report = stocktake.report(conn, stocktake_id)
    assert [line.code for line in report.missing] == ["A2", "B1", "B2", "C1", "N1"]
    assert stocktake.report(conn, 999) is None


def test_marking_the_missing_lost_marks_exactly_those_left_missing_and_logs_each(conn, library):
    stocktake_id = start(conn, library, SHELF_A, SHELF_B)
    scan(conn, library, stocktake_id, "A1")
    too_early = write(
        conn, stocktake.mark_missing_lost, stocktake_id=stocktake_id, actor_id=library["bob"]
    )
    assert too_early.problem == stocktake.CONFLICT
    write(conn, stocktake.close, stocktake_id=stocktake_id, actor_id=library["bob"])
    # After the close B2 is lent: it has turned up, so it is left alone.
    lend(conn, library["pupil"], library["B2"])
    before = statuses(conn)
    answer = write(
        conn, stocktake.mark_missing_lost, stocktake_id=stocktake_id, actor_id=library["bob"]
    )
    assert answer.ok
    assert answer.message == (
        "Marked 2 missing copies lost. 1 had turned up since the close (lent, returned or "
        "changed) and were left as they are."
    )
    after = statuses(conn)
    assert {code for code in after if after[code] != before[code]} == {"A2", "B1"}
    assert after["A2"] == after["B1"] == "lost"
    logged = conn.execute(
        "SELECT c.Barcode, e.Detail FROM Events e JOIN Copies c USING (CopyID) "
        "WHERE e.Kind = 'copy_status' ORDER BY c.Barcode"
    ).fetchall()
    assert [row[0] for row in logged] == ["A2", "B1"]
    assert logged[0][1] == f"in_stock -> lost: missing in stocktake {stocktake_id} “Autumn”"
    summary = conn.execute("SELECT Detail FROM Events WHERE Kind = 'stocktake_marked_lost'")
    assert [row[0] for row in summary] == [
        f"Stocktake {stocktake_id} “Autumn”: 2 of 3 missing copies marked lost"
    ]
    twice = write(
        conn, stocktake.mark_missing_lost, stocktake_id=stocktake_id, actor_id=library["bob"]
    )
    assert twice.problem == stocktake.CONFLICT
    assert statuses(conn) == after


def test_the_csv_rows_carry_every_section(conn, library):
    stocktake_id = start(conn, library, SHELF_A)
    scan(conn, library, stocktake_id, "B1", SHELF_A)
    scan(conn, library, stocktake_id, "=cmd|x", SHELF_A)
    rows = list(stocktake.report_rows(stocktake.report(conn, stocktake_id)))
    assert [(row[0], row[1]) for row in rows] == [
        ("missing", "A1"),
        ("missing", "A2"),
        ("misplaced", "B1"),
        ("unknown", "=cmd|x"),
    ]
    assert len(stocktake.CSV_COLUMNS) == len(rows[0])


def test_a_chosen_location_whose_copies_are_all_out_keeps_its_row_in_the_progress(conn, library):
    stocktake_id = start(conn, library, SHELF_A, SHELF_C)
    lend(conn, library["pupil"], library["C1"])
    progress = stocktake.progress(conn, stocktake.get(conn, stocktake_id))
    assert [(row.location, row.expected, row.seen) for row in progress.locations] == [
        (SHELF_A, 2, 0),
        (SHELF_C, 0, 0),
    ]
    assert progress.percent == 0 and progress.locations[1].percent == 100
