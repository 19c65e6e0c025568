"""Importing patrons from CSV: the web preview and the command line, all or nothing."""

from __future__ import annotations

import pytest

from webapp.cli import main
from webapp.db import connect_sync
from webapp.importing.patrons import apply_patrons, plan_patrons, read_patrons_csv

CLASS_LIST = (
    "Name,E-mail,Card,Class,Role,Active\n"
    "Ravi Patel,ravi@example.org,S7001,Year 8,Student,yes\n"
    "Mei Chen,,S7002,Year 8,,yes\n"
    "Mei Chen,,S7002,Year 8,,yes\n"
    "No Contact,,,Year 8,Student,yes\n"
    "Bad Mail,bad-mail,S7003,Year 8,Student,yes\n"
    "Alice Smith,alice@example.com,S0001,Year 11,Student,yes\n"
    "Boss,boss@example.org,A7000,Staff,Admin,yes\n"
    "Card Thief,thief@example.org,L0001,Year 8,Student,yes\n"
)


def rows_of(path, sql, params=()):
    conn = connect_sync(path)
    try:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def test_the_plan_classifies_each_row_and_writes_nothing(demo_database):
    _, rows = read_patrons_csv(CLASS_LIST)
    conn = connect_sync(demo_database)
    users_before = conn.execute("SELECT count(*) FROM Users").fetchone()[0]
    summary = plan_patrons(conn, rows)
    assert (summary.new, summary.updated, summary.duplicate, summary.invalid) == (2, 1, 1, 4)
    reasons = dict(summary.problems)
    assert reasons[4] == "repeats an earlier row of this file"
    assert "needs an email address or a card number" in reasons[5]
    assert reasons[6] == "email: Type an email address like name@example.org."
    assert reasons[8] == "only an admin may import Admin accounts"
    assert reasons[9] == "card number L0001 belongs to someone else"
    assert conn.execute("SELECT count(*) FROM Users").fetchone()[0] == users_before


def test_applying_adds_new_patrons_updates_known_ones_and_is_idempotent(demo_database):
    _, rows = read_patrons_csv(CLASS_LIST)
    conn = connect_sync(demo_database)
    summary = apply_patrons(conn, rows)
    assert (summary.new, summary.updated) == (2, 1)
    assert (
        conn.execute("SELECT GroupName FROM Users WHERE Email = 'alice@example.com'").fetchone()[0]
        == "Year 11"
    )
    assert conn.execute(
        "SELECT Name, GroupName, Role FROM Users WHERE CardNumber = 'S7002'"
    ).fetchone()[:] == ("Mei Chen", "Year 8", "Student")
    again = apply_patrons(conn, read_patrons_csv(CLASS_LIST)[1])
    assert (again.new, again.updated) == (0, 0)


def test_an_import_that_fails_half_way_leaves_the_database_as_it_was(demo_database):
    _, rows = read_patrons_csv(CLASS_LIST)
    conn = connect_sync(demo_database)
    before = conn.execute("SELECT count(*), total(length(GroupName)) FROM Users").fetchone()[:]
    calls = []

    def interrupt(step):
        calls.append(step)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        apply_patrons(conn, rows, progress=interrupt)
    assert (
        conn.execute("SELECT count(*), total(length(GroupName)) FROM Users").fetchone()[:] == before
    )


def test_the_command_line_imports_patrons_with_a_summary(demo_database, tmp_path, capsys):
    source = tmp_path / "class.csv"
    source.write_text(CLASS_LIST, encoding="utf-8")
    assert main(["--database", str(demo_database), "import", "patrons", str(source)]) == 0
    out = capsys.readouterr()
    assert "3 new, 1 updated, 1 duplicate, 3 invalid" in out.out
    assert "importing class.csv [" in out.err
    assert rows_of(demo_database, "SELECT Role FROM Users WHERE Email = 'boss@example.org'") == [
        ("Admin",)
    ]
