"""`shelfmark backup` while the library keeps writing: the copy is whole and consistent."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

from webapp import create_app
from webapp.backup import backup_database
from webapp.cli import main
from webapp.db import connect_sync

from .conftest import make_settings
from .security_helpers import table_checksums


def test_a_backup_taken_during_writes_passes_integrity_check_and_holds_a_consistent_snapshot(
    demo_database, tmp_path
):
    conn = connect_sync(demo_database)
    # Make the file big enough that copying it takes a while, with writes going on meanwhile.
    conn.execute("CREATE TABLE Filler (Id INTEGER PRIMARY KEY, Payload TEXT)")
    conn.executemany(
        "INSERT INTO Filler (Payload) VALUES (?)", [("x" * 2000,) for _ in range(3000)]
    )
    committed_before = conn.execute("SELECT count(*) FROM Filler").fetchone()[0]
    barcode_next_before = int(
        conn.execute("SELECT Value FROM LibrarySettings WHERE Key = 'barcode_next'").fetchone()[0]
    )
    conn.close()

    started = threading.Event()
    stop = threading.Event()
    written = []

    def writer():
        writing = connect_sync(demo_database)
        try:
            while not stop.is_set():
                writing.execute("BEGIN IMMEDIATE")
                writing.execute("INSERT INTO Filler (Payload) VALUES ('during backup')")
                writing.execute(
                    "UPDATE LibrarySettings SET Value = CAST(Value AS INTEGER) + 1 WHERE Key = 'barcode_next'"
                )
                writing.execute("COMMIT")
                written.append(1)
                started.set()
        finally:
            writing.close()

    thread = threading.Thread(target=writer)
    thread.start()
    started.wait(5)
    try:
        pages = backup_database(demo_database, tmp_path / "backup.sqlite3")
    finally:
        stop.set()
        thread.join()
    assert pages > 0 and written

    copy = sqlite3.connect(tmp_path / "backup.sqlite3")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = copy.execute("SELECT count(*) FROM Filler").fetchone()[0]
    during = copy.execute("SELECT count(*) FROM Filler WHERE Payload = 'during backup'").fetchone()[
        0
    ]
    barcode_next = int(
        copy.execute("SELECT Value FROM LibrarySettings WHERE Key = 'barcode_next'").fetchone()[0]
    )
    # A snapshot of one moment: every row committed before the backup began,
    # and the two writes of each transaction either both there or both not.
    assert rows >= committed_before
    assert during <= len(written)
    assert barcode_next - barcode_next_before == during
    original = connect_sync(demo_database)
    for table in ("Books", "Copies", "Users", "Loans"):
        sql = f"SELECT count(*) FROM {table}"
        assert copy.execute(sql).fetchone()[0] == original.execute(sql).fetchone()[0], table
    original.close()
    copy.close()


def test_the_command_line_backs_up_and_refuses_to_overwrite(demo_database, tmp_path, capsys):
    target = tmp_path / "nightly.sqlite3"
    assert main(["--database", str(demo_database), "backup", str(target)]) == 0
    assert "it passed an integrity check" in capsys.readouterr().out
    assert main(["--database", str(demo_database), "backup", str(target)]) == 1
    copy = sqlite3.connect(target)
    assert (
        copy.execute("SELECT count(*) FROM Users WHERE Email = 'alice@example.com'").fetchone()[0]
        == 1
    )
    copy.close()


def test_a_backup_taken_under_load_restores_to_identical_data(demo_database, tmp_path):
    """Every row the backup holds is the source's row as committed; restored, it reads the same."""
    conn = connect_sync(demo_database)
    conn.execute("CREATE TABLE Ledger (Seq INTEGER PRIMARY KEY, Payload TEXT NOT NULL)")
    conn.close()
    stop = threading.Event()

    def writer():
        writing = connect_sync(demo_database)
        try:
            seq = 0
            while not stop.is_set():
                seq += 1
                writing.execute(
                    "INSERT INTO Ledger (Seq, Payload) VALUES (?, ?)", (seq, f"row {seq} " * 50)
                )
        finally:
            writing.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        backup_database(demo_database, tmp_path / "backup.sqlite3")
    finally:
        stop.set()
        thread.join()

    # The restore procedure of the README: the backup in place of the file, no WAL files.
    restored = tmp_path / "restored" / "shelfmark.sqlite3"
    restored.parent.mkdir()
    restored.write_bytes((tmp_path / "backup.sqlite3").read_bytes())
    copy = sqlite3.connect(restored)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    copy.execute("INSERT INTO BooksSearch (BooksSearch) VALUES ('integrity-check')")
    (last,) = copy.execute("SELECT coalesce(max(Seq), 0) FROM Ledger").fetchone()
    assert copy.execute("SELECT count(*) FROM Ledger").fetchone()[0] == last, (
        "no gap in the snapshot"
    )
    copy.close()
    # Apart from the ledger rows written after the snapshot, source and restored copy are identical.
    source = connect_sync(demo_database)
    source.execute("DELETE FROM Ledger WHERE Seq > ?", (last,))
    source.close()
    assert table_checksums(restored) == table_checksums(demo_database)


async def test_a_backup_restored_in_place_of_the_database_serves_the_library(
    demo_database, tmp_path
):
    """docs/deploying.md's restore: stop, copy the backup over the file, drop -wal/-shm, start."""
    backup = tmp_path / "nightly.sqlite3"
    assert main(["--database", str(demo_database), "backup", str(backup)]) == 0
    conn = connect_sync(demo_database)
    renamed = conn.execute(
        "UPDATE Books SET Title = 'Renamed after the backup' WHERE Title = 'The Great Gatsby'"
    )
    assert renamed.rowcount == 1
    conn.close()

    shutil.copyfile(backup, demo_database)
    for suffix in ("-wal", "-shm"):
        Path(f"{demo_database}{suffix}").unlink(missing_ok=True)
    app = create_app(make_settings(demo_database))
    async with app.test_app() as test_app:
        response = await test_app.test_client().get("/search?q=gatsby")
        html = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The Great <mark>Gatsby</mark>" in html and "Renamed after the backup" not in html
