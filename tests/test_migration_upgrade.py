"""Upgrading: a database built at any earlier schema version keeps every row."""

from __future__ import annotations

import pytest

from webapp import demo
from webapp.db import connect_sync, migrate, migration_files, schema_version
from webapp.resources import MIGRATIONS

from .conftest import TEST_TODAY

VERSIONS = [number for number, _ in migration_files(MIGRATIONS)]


def table_rows(conn) -> dict[str, list[tuple]]:
    """Every row of every ordinary table, keyed by table, in a stable order."""
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%' "
            "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'BooksSearch%'"
        )
    ]
    return {
        table: sorted(tuple(row) for row in conn.execute(f"SELECT * FROM {table}"))
        for table in tables
    }


@pytest.mark.parametrize("start", VERSIONS)
def test_a_database_filled_at_an_earlier_version_upgrades_with_every_row_kept(tmp_path, start):
    conn = connect_sync(tmp_path / f"v{start}.sqlite3")
    migrate(conn, MIGRATIONS, target=start)
    assert schema_version(conn) == start
    demo.load(conn, books=40, patrons=15, seed=start, today=TEST_TODAY, show_progress=False)
    before = table_rows(conn)

    migrate(conn, MIGRATIONS)

    assert schema_version(conn) == VERSIONS[-1]
    after = table_rows(conn)
    for table, rows in before.items():
        if table in after:
            kept = {row[: len(rows[0])] for row in after[table]} if rows else set()
            assert set(rows) <= kept, f"{table} lost rows upgrading from version {start}"
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.execute("INSERT INTO BooksSearch (BooksSearch) VALUES ('integrity-check')")
    hits = conn.execute(
        "SELECT count(*) FROM BooksSearch WHERE BooksSearch MATCH 'gatsby'"
    ).fetchone()[0]
    assert hits == 1
