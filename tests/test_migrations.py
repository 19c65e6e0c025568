"""The schema: migrations apply cleanly, match sql/schema.sql, and refuse bad rows."""

from __future__ import annotations

import sqlite3

import pytest

from webapp.db import connect_sync, migrate, migration_files, schema_sql, schema_version
from webapp.resources import MIGRATIONS

from .conftest import REPO


def test_migrating_an_empty_database_produces_the_documented_schema(tmp_path):
    conn = connect_sync(tmp_path / "new.sqlite3")
    applied = migrate(conn, MIGRATIONS)
    assert applied == [number for number, _ in migration_files(MIGRATIONS)]
    assert schema_version(conn) == applied[-1]
    documented = (REPO / "sql" / "schema.sql").read_text()
    assert schema_sql(conn) == documented, (
        "sql/schema.sql is out of date: regenerate it with `make schema`"
    )


def test_migrating_twice_applies_nothing_the_second_time(database_path):
    conn = connect_sync(database_path)
    assert migrate(conn, MIGRATIONS) == []


def test_a_failing_migration_leaves_the_previous_version(tmp_path):
    directory = tmp_path / "sql"
    directory.mkdir()
    (directory / "0001_first.sql").write_text("CREATE TABLE A (x INTEGER);")
    (directory / "0002_broken.sql").write_text(
        "CREATE TABLE B (y INTEGER); INSERT INTO Nope VALUES (1);"
    )
    conn = connect_sync(tmp_path / "db.sqlite3")
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, directory)
    assert schema_version(conn) == 1
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "A" in tables and "B" not in tables


def test_every_connection_enforces_foreign_keys_and_uses_wal(database_path):
    conn = connect_sync(database_path)
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO Copies (BookID, Barcode) VALUES (999, 'X1')")


@pytest.fixture
def conn(database_path):
    conn = connect_sync(database_path)
    conn.execute(
        "INSERT INTO Users (UserID, Name, Role, Email) VALUES (1, 'Alice Smith', 'Student', 'alice@example.com')"
    )
    conn.execute(
        "INSERT INTO Books (BookID, Title, Author, ISBN) VALUES (1, 'The Great Gatsby', 'F. Scott Fitzgerald', '9780743273565')"
    )
    conn.execute("INSERT INTO Copies (CopyID, BookID, Barcode) VALUES (1, 1, 'C1')")
    return conn


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO Users (Name, Role) VALUES ('Mallory', 'Superuser')",
        "INSERT INTO Users (Name, Role) VALUES ('   ', 'Student')",
        "INSERT INTO Users (Name, Role, Email) VALUES ('Twin', 'Student', 'ALICE@example.com')",
        "INSERT INTO Users (Name, Role, Email) VALUES ('No at', 'Student', 'not-an-email')",
        "INSERT INTO Books (Title, ISBN) VALUES ('Dup', '9780743273565')",
        "INSERT INTO Books (Title, ISBN) VALUES ('Short ISBN', '074327356')",
        "INSERT INTO Books (Title) VALUES ('')",
        "INSERT INTO Copies (BookID, Barcode) VALUES (1, 'c1')",
        "INSERT INTO Copies (BookID, Barcode) VALUES (1, 'has space')",
        "INSERT INTO Copies (BookID, Barcode, Status) VALUES (1, 'C2', 'borrowed')",
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) VALUES (1, 1, 1, '2026-13-01', '2026-12-01')",
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) VALUES (1, 1, 1, '2026-11-20', '2026-11-01')",
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) VALUES (1, 2, 1, '2026-11-01', '2026-11-15')",
        "INSERT INTO PatronCategories (Name, MaxLoans, MaxHolds, BlockWhenOverdue, RenewOverdueDays) VALUES ('student', 1, 1, 1, 0)",
        "INSERT INTO CirculationRules (CategoryID, ItemTypeID, LoanDays, MaxRenewals) VALUES (NULL, NULL, 7, 1)",
        "INSERT INTO CirculationRules (CategoryID, ItemTypeID, LoanDays, MaxRenewals) VALUES (NULL, 4, 7, 1)",
        "INSERT INTO CirculationRules (CategoryID, ItemTypeID, LoanDays, MaxRenewals) VALUES (1, NULL, 366, 1)",
        "DELETE FROM CirculationRules WHERE CategoryID IS NULL AND ItemTypeID IS NULL",
        "UPDATE Copies SET ItemTypeID = NULL",
        "UPDATE Users SET CategoryID = NULL",
        "INSERT INTO Terms (Name, StartsOn, EndsOn) VALUES ('Backwards', '2027-01-05', '2027-01-01')",
    ],
)
def test_the_schema_refuses_bad_rows(conn, statement):
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(statement)


def test_a_copy_can_never_have_two_open_loans(conn):
    conn.execute(
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) VALUES (1, 1, 1, '2026-11-01', '2026-11-15')"
    )
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        conn.execute(
            "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) VALUES (1, 1, 1, '2026-11-02', '2026-11-16')"
        )
    conn.execute("UPDATE Loans SET ReturnedAt = '2026-11-03T10:00:00Z'")
    conn.execute(
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) VALUES (1, 1, 1, '2026-11-04', '2026-11-18')"
    )


def test_availability_is_derived_from_open_loans(conn):
    def availability():
        return tuple(
            conn.execute(
                "SELECT Copies, Availability, NextDueBack FROM BookAvailability WHERE BookID = 1"
            ).fetchone()
        )

    assert availability() == (1, 1, None)
    conn.execute(
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) VALUES (1, 1, 1, '2026-11-01', '2026-11-15')"
    )
    assert availability() == (1, 0, "2026-11-15")
    conn.execute("UPDATE Loans SET ReturnedAt = '2026-11-03T10:00:00Z'")
    assert availability() == (1, 1, None)


def test_the_event_log_is_append_only(conn):
    conn.execute("INSERT INTO Events (Kind, UserID) VALUES ('lend', 1)")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE Events SET Kind = 'return'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM Events")


def test_the_search_index_follows_every_change_to_books(conn):
    def titles(query):
        return [
            row[0]
            for row in conn.execute(
                "SELECT Title FROM BooksSearch WHERE BooksSearch MATCH ?", (query,)
            )
        ]

    assert titles("gatsby") == ["The Great Gatsby"]
    conn.execute("UPDATE Books SET Title = 'Tender Is the Night', Subjects = NULL WHERE BookID = 1")
    assert titles("gatsby") == []
    assert titles("tender") == ["Tender Is the Night"]
    conn.execute("DELETE FROM Copies")
    conn.execute("DELETE FROM Books")
    assert titles("tender") == []
    conn.execute("INSERT INTO BooksSearch (BooksSearch) VALUES ('integrity-check')")
