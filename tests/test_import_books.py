"""The book importer itself: dry-run plans, all-or-nothing writes, the command line."""

from __future__ import annotations

import sqlite3

import pytest

from webapp.cli import main
from webapp.db import connect_sync
from webapp.importing.books import apply_books, plan_books, read_books_csv, unquote_formula

from .test_import_web import BAD_ROWS_CSV


def snapshot(conn):
    return (
        conn.execute("SELECT count(*), total(length(Title)) FROM Books").fetchone()[:],
        conn.execute("SELECT count(*) FROM Copies").fetchone()[0],
        conn.execute("SELECT Value FROM LibrarySettings WHERE Key = 'barcode_next'").fetchone()[0],
    )


def test_the_plan_counts_exactly_what_applying_then_does(demo_database):
    conn = connect_sync(demo_database)
    before = snapshot(conn)
    _, rows = read_books_csv(BAD_ROWS_CSV)
    planned = plan_books(conn, rows)
    assert snapshot(conn) == before
    applied = apply_books(conn, rows)
    assert (
        (planned.new, planned.updated, planned.duplicate, planned.invalid)
        == (applied.new, applied.updated, applied.duplicate, applied.invalid)
        == (2, 0, 2, 5)
    )
    assert planned.problems == applied.problems


def test_a_failure_while_writing_leaves_the_database_as_it_was(demo_database):
    conn = connect_sync(demo_database)
    conn.execute(
        "CREATE TEMP TRIGGER FailOnSecond BEFORE INSERT ON Books WHEN NEW.Title = 'Second New' "
        "BEGIN SELECT RAISE(ABORT, 'the disk is full'); END"
    )
    before = snapshot(conn)
    _, rows = read_books_csv("title,author\nFirst New,A\nSecond New,B\n")
    with pytest.raises(sqlite3.IntegrityError, match="the disk is full"):
        apply_books(conn, rows)
    assert snapshot(conn) == before


def test_generated_barcodes_skip_numbers_already_on_a_copy(demo_database):
    conn = connect_sync(demo_database)
    taken = conn.execute(
        "SELECT Barcode FROM Copies WHERE Barcode GLOB 'C[0-9]*' ORDER BY CopyID LIMIT 1"
    ).fetchone()[0]
    conn.execute("UPDATE LibrarySettings SET Value = ? WHERE Key = 'barcode_next'", (taken[1:],))
    summary = apply_books(conn, read_books_csv("title,author\nFirst New,A\n")[1])
    assert summary.copies_added == 1
    new_code = conn.execute(
        "SELECT Barcode FROM Copies JOIN Books USING (BookID) WHERE Title = 'First New'"
    ).fetchone()[0]
    assert new_code != taken and new_code.startswith("C")


def test_only_the_quote_an_export_adds_is_removed():
    assert unquote_formula("'=SUM(A1)") == "=SUM(A1)"
    assert unquote_formula("'-5") == "-5"
    assert unquote_formula("'Tis the Season") == "'Tis the Season"
    assert unquote_formula("'") == "'"


def test_the_command_line_reports_problems_and_a_summary(demo_database, tmp_path, capsys):
    source = tmp_path / "bad.csv"
    source.write_text(BAD_ROWS_CSV, encoding="utf-8")
    assert main(["--database", str(demo_database), "import", "books", str(source)]) == 0
    out = capsys.readouterr()
    assert "line 3: the title is empty" in out.out
    assert "2 new, 0 updated, 2 duplicate, 5 invalid; 2 copies added." in out.out
    binary = tmp_path / "picture.csv"
    binary.write_bytes(b"\x89PNG\x00\x00")
    assert main(["--database", str(demo_database), "import", "books", str(binary)]) == 1
    assert "holds binary data" in capsys.readouterr().err
