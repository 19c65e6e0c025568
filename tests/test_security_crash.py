"""Processes killed with SIGKILL in the middle of writing leave a whole, consistent database.

An import killed mid-transaction leaves the database exactly as it was, and the
next run imports every row once. A server killed while desks lend and return
leaves every copy with at most one open loan and an event for every loan.
(The reminder run killed mid-send is in test_reminders_processes.py.)
"""

from __future__ import annotations

import asyncio
import csv
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from webapp.db import connect_sync
from webapp.demo import DEMO_PASSWORD
from webapp.importing.books import FIND_BY_TITLE_AND_AUTHOR

from .security_helpers import table_checksums
from .server import free_port, wait_until_up

IMPORT_ROWS = 15_000
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
# The patron the desk shows, which every scan sends back (as the desk page does).
SHOWN_PATRON = re.compile(r'<input type="hidden" id="desk-patron" name="patron" value="(\d+)"')


def consistency_report(database: Path) -> dict:
    """Integrity of the file and the FTS index, and the counts that must agree."""
    conn = connect_sync(database)
    try:
        report = {
            "integrity": conn.execute("PRAGMA integrity_check").fetchone()[0],
            "foreign_keys": conn.execute("PRAGMA foreign_key_check").fetchall(),
            "books": conn.execute("SELECT count(*) FROM Books").fetchone()[0],
            "indexed": conn.execute("SELECT count(*) FROM BooksSearch").fetchone()[0],
            # What users see: Books and Copies less the rows of an unpublished import.
            "visible": conn.execute("SELECT count(*) FROM CatalogueBooks").fetchone()[0],
            "catalogue": [
                conn.execute(f"SELECT * FROM {view} ORDER BY 1").fetchall()
                for view in ("CatalogueBooks", "CatalogueCopies")
            ],
        }
        conn.execute("INSERT INTO BooksSearch (BooksSearch) VALUES ('integrity-check')")
        return report
    finally:
        conn.close()


def big_books_csv(path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["title", "author", "subjects", "copies"])
        for number in range(IMPORT_ROWS):
            writer.writerow([f"Crash Test Volume {number}", f"Author {number % 997}", "Testing", 1])
    return path


def run_import(database: Path, source: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "webapp.cli",
            "--database",
            str(database),
            "import",
            "books",
            str(source),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_an_import_killed_mid_write_changes_nothing_and_the_rerun_imports_every_row_once(
    demo_database, tmp_path
):
    source = big_books_csv(tmp_path / "big.csv")
    # What users see: every table but the import's own staging tables and those its
    # publication writes invisible rows into (compared through the catalogue's views),
    # and the library's settings but the barcode counter (a killed import may leave a
    # gap in the numbers).
    staging = frozenset({"ImportRuns", "ImportStagedBooks", "ImportStagedCopies"})
    staging |= written_by_publication(demo_database)
    before = table_checksums(demo_database, ignore=staging | {"LibrarySettings"})
    settings_before = library_settings(demo_database)
    report_before = consistency_report(demo_database)
    books_before = report_before["books"]

    doomed = run_import(demo_database, source)
    # The whole file is checked and staged first (the progress bar on stderr reaches
    # 100%), then barcodes are generated and the rows published: the kill lands there.
    for line in doomed.stderr:
        if "(100%)" in line:
            break
    time.sleep(0.3)
    assert doomed.poll() is None, (
        "the import finished before it could be killed: make the file bigger"
    )
    doomed.kill()
    doomed.wait(30)

    report = consistency_report(demo_database)
    assert report["integrity"] == "ok" and report["foreign_keys"] == []
    assert report["books"] == report["indexed"]
    assert report["visible"] == books_before
    assert report["catalogue"] == report_before["catalogue"]
    assert table_checksums(demo_database, ignore=staging | {"LibrarySettings"}) == before
    assert library_settings(demo_database) == settings_before

    rerun = run_import(demo_database, source)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert f"{IMPORT_ROWS:,} new" in out
    again = run_import(demo_database, source)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0 and "0 new" in out, out + err
    report = consistency_report(demo_database)
    assert report["integrity"] == "ok"
    assert report["books"] == report["indexed"] == books_before + IMPORT_ROWS
    conn = connect_sync(demo_database)
    copies = conn.execute(
        "SELECT count(*) FROM Copies c JOIN Books b USING (BookID) WHERE b.Title LIKE 'Crash Test Volume %'"
    ).fetchone()[0]
    conn.close()
    assert copies == IMPORT_ROWS
    # The rerun discarded what the killed import had staged.
    assert staged_rows(demo_database) == 0


def written_by_publication(path) -> frozenset[str]:
    """The tables an import's publication writes its invisible rows into, with what their
    triggers keep: the search index's tables, the label queue and the search counters."""
    conn = connect_sync(path)
    try:
        search = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'BooksSearch*'"
            )
        }
    finally:
        conn.close()
    return frozenset(
        search | {"Books", "Copies", "LabelQueue", "SearchVersions", "SearchVocabularyChanges"}
    )


def library_settings(path) -> dict[str, str]:
    conn = connect_sync(path)
    try:
        return dict(
            conn.execute("SELECT Key, Value FROM LibrarySettings WHERE Key <> 'barcode_next'")
        )
    finally:
        conn.close()


def staged_rows(path) -> int:
    conn = connect_sync(path)
    try:
        return sum(
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("ImportRuns", "ImportStagedBooks", "ImportStagedCopies")
        )
    finally:
        conn.close()


def test_finding_a_known_book_without_an_isbn_uses_the_title_index(database_path):
    conn = connect_sync(database_path)
    plan = conn.execute(
        "EXPLAIN QUERY PLAN " + FIND_BY_TITLE_AND_AUTHOR, ("Dune", "Frank Herbert")
    ).fetchall()
    conn.close()
    assert "Books_Title" in " ".join(row[-1] for row in plan)


DESKS = 8
COPIES_PER_DESK = 3


def lending_library(database: Path) -> list[tuple[str, list[str]]]:
    """A patron card and a few copies of one title for each desk."""
    conn = connect_sync(database)
    try:
        desks = []
        for desk in range(DESKS):
            card = f"KILL{desk:02d}"
            conn.execute(
                "INSERT INTO Users (Name, Role, CardNumber) VALUES (?, 'Student', ?)",
                (f"Borrower {desk}", card),
            )
            book_id = conn.execute(
                "INSERT INTO Books (Title) VALUES (?)", (f"Kill Title {desk}",)
            ).lastrowid
            barcodes = [f"KILL-{desk}-{n}" for n in range(COPIES_PER_DESK)]
            conn.executemany(
                "INSERT INTO Copies (BookID, Barcode) VALUES (?, ?)",
                [(book_id, code) for code in barcodes],
            )
            desks.append((card, barcodes))
        return desks
    finally:
        conn.close()


def start_server(database: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "SHELFMARK_DATABASE": str(database), "SHELFMARK_SECRET_KEY": "crash-test"}
    return subprocess.Popen(
        [sys.executable, "-m", "webapp.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def desk_session(base_url: str, card: str) -> tuple[httpx.AsyncClient, dict[str, str]]:
    """A librarian at a desk with the patron ``card`` selected: the client, and the fields
    every scan sends (the CSRF token and the patron the desk shows)."""
    client = httpx.AsyncClient(base_url=base_url, timeout=10)
    token = CSRF_META.search((await client.get("/login")).text).group(1)
    await client.post(
        "/login", data={"email": "bob@example.com", "password": DEMO_PASSWORD, "csrf_token": token}
    )
    token = CSRF_META.search((await client.get("/desk")).text).group(1)
    selected = await client.post(
        "/desk/scan", data={"code": card, "csrf_token": token}, headers={"HX-Request": "true"}
    )
    return client, {"csrf_token": token, "patron": SHOWN_PATRON.search(selected.text).group(1)}


async def lend_and_return_until_killed(
    client: httpx.AsyncClient, desk_fields: dict[str, str], barcodes: list[str], done: list[int]
) -> None:
    """Lend and return this desk's copies in turn until the server stops answering."""
    try:
        while True:
            for mode in ("lend", "return"):
                for code in barcodes:
                    response = await client.post(
                        "/desk/scan",
                        data={"code": code, "mode": mode, **desk_fields},
                        headers={"HX-Request": "true"},
                    )
                    assert response.status_code in (200, 422), response.text
                    done.append(1)
    except httpx.TransportError:
        return


def loan_consistency(database: Path) -> dict:
    conn = connect_sync(database)
    try:
        kill_loans = (
            "SELECT l.* FROM Loans l JOIN Copies c USING (CopyID) WHERE c.Barcode LIKE 'KILL-%'"
        )
        return {
            "integrity": conn.execute("PRAGMA integrity_check").fetchone()[0],
            "most_open_per_copy": conn.execute(
                f"SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM ({kill_loans}) "
                "WHERE ReturnedAt IS NULL GROUP BY CopyID)"
            ).fetchone()[0],
            "loans": {row[0] for row in conn.execute(f"SELECT LoanID FROM ({kill_loans})")},
            "lend_events": [
                row[0]
                for row in conn.execute(
                    "SELECT LoanID FROM Events WHERE Kind = 'lend' AND LoanID IN "
                    f"(SELECT LoanID FROM ({kill_loans}))"
                )
            ],
            "returned": {
                row[0]
                for row in conn.execute(
                    f"SELECT LoanID FROM ({kill_loans}) WHERE ReturnedAt IS NOT NULL"
                )
            },
            "return_events": [
                row[0]
                for row in conn.execute(
                    "SELECT LoanID FROM Events WHERE Kind = 'return' AND LoanID IN "
                    f"(SELECT LoanID FROM ({kill_loans}))"
                )
            ],
        }
    finally:
        conn.close()


async def test_a_server_killed_while_desks_lend_and_return_leaves_consistent_loans(demo_database):
    desks = lending_library(demo_database)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = start_server(demo_database, port)
    try:
        await asyncio.to_thread(wait_until_up, base_url, server, Path(os.devnull))
        sessions = await asyncio.gather(*(desk_session(base_url, card) for card, _ in desks))
        done: list[int] = []
        load = asyncio.gather(
            *(
                lend_and_return_until_killed(client, desk_fields, barcodes, done)
                for (client, desk_fields), (_, barcodes) in zip(sessions, desks, strict=True)
            )
        )
        while len(done) < 150:
            await asyncio.sleep(0.02)
        server.kill()
        server.wait(30)
        await asyncio.wait_for(load, 60)
        await asyncio.gather(*(client.aclose() for client, _ in sessions))
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(30)

    state = loan_consistency(demo_database)
    assert state["integrity"] == "ok"
    assert state["loans"], "the desks lent something before the kill"
    assert state["most_open_per_copy"] <= 1
    assert sorted(state["lend_events"]) == sorted(state["loans"])
    assert sorted(state["return_events"]) == sorted(state["returned"])

    # A restarted server carries on: every copy can be returned and lent again once.
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = start_server(demo_database, port)
    try:
        await asyncio.to_thread(wait_until_up, base_url, server, Path(os.devnull))
        card, barcodes = desks[0]
        client, desk_fields = await desk_session(base_url, card)
        for mode in ("return", "lend"):
            for code in barcodes:
                await client.post(
                    "/desk/scan",
                    data={"code": code, "mode": mode, **desk_fields},
                    headers={"HX-Request": "true"},
                )
        await client.aclose()
    finally:
        server.terminate()
        server.wait(30)
    state = loan_consistency(demo_database)
    assert state["most_open_per_copy"] == 1
    assert sorted(state["lend_events"]) == sorted(state["loans"])
    assert sorted(state["return_events"]) == sorted(state["returned"])
