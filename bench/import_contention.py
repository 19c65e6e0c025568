"""The desk during a large import: scan latency while a librarian previews and confirms a
CSV of a million books, and the server's peak memory while previewing it.

An import used to hold SQLite's write lock for the whole confirm (about 50 s at a
million rows): every desk scan meanwhile hung for 10 s and failed with "database
is locked", and the preview peaked near 1 GB. Now the file is staged in short
transactions, its rows are written into the catalogue invisibly in short
transactions too, and one tiny transaction shows them (``webapp/importing/staging.py``,
docs/importing.md). This script runs the real server, uploads a generated file
through the import pages, and scans one copy at a desk (lend, return, lend …)
for as long as the preview and the confirm take, timing every scan.

``contend`` is shared with tests/test_import_contention.py, which runs it at a
size that keeps the test short and checks what users see; the figures come from
here and go to the "Import contention" section of docs/benchmarks.md.

    python -m bench.import_contention            # 100,000 rows
    python -m bench.import_contention --full     # 1,000,000 rows (about 26 MB)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import common
from webapp import demo
from webapp.clock import library_today
from webapp.config import Settings
from webapp.db import connect_sync, migrate
from webapp.resources import MIGRATIONS

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
SHOWN_PATRON = re.compile(r'<input type="hidden" id="desk-patron" name="patron" value="(\d+)"')
TITLE_PREFIX = "Imp"
DESK_COPY = "DESK-SCAN-1"
DESK_CARD = "DESK-CARD-1"


def write_csv(path: Path, rows: int) -> None:
    """A fixed file of ``rows`` new books (one copy each), the same on every run."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("title,author,year\n")
        for number in range(rows):
            out.write(f"{TITLE_PREFIX} {number:07d},A {number % 5000},{1900 + number % 120}\n")


def build_library(path: Path) -> None:
    """A small demo library, a copy for the desk to scan, and a patron to lend it to."""
    conn = connect_sync(path)
    migrate(conn, MIGRATIONS)
    demo.load(
        conn, books=200, patrons=20, seed=3, today=library_today(Settings()), show_progress=False
    )
    book_id = conn.execute("INSERT INTO Books (Title) VALUES ('The Desk Copy')").lastrowid
    conn.execute("INSERT INTO Copies (BookID, Barcode) VALUES (?, ?)", (book_id, DESK_COPY))
    conn.execute(
        "INSERT INTO Users (Name, Role, CardNumber) VALUES ('Desk Patron', 'Student', ?)",
        (DESK_CARD,),
    )
    conn.close()


@dataclass
class Scan:
    phase: str  # "preview" or "confirm": which request of the import was running
    status: int
    ms: float
    locked: bool  # the answer mentions "database is locked"
    imported_seen: int  # imported books a reader saw in the catalogue right after the scan
    staged_seen: int  # rows the import had staged by then
    # The import's publication was under way both before the scan was sent and after it
    # was answered, with some of its books written (invisible) into Books.
    during_publication: bool = False


@dataclass
class Contention:
    rows: int
    scans: list[Scan] = field(default_factory=list)
    preview_status: int = 0
    confirm_status: int = 0
    preview_seconds: float = 0.0
    confirm_seconds: float = 0.0
    imported_after: int = 0


async def _signed_in(base_url: str) -> tuple[httpx.AsyncClient, str]:
    client = httpx.AsyncClient(base_url=base_url, timeout=600)
    token = CSRF_META.search((await client.get("/login")).text).group(1)
    response = await client.post(
        "/login",
        data={"email": "bob@example.com", "password": demo.DEMO_PASSWORD, "csrf_token": token},
    )
    if response.status_code != 302:
        raise RuntimeError(f"could not sign in: {response.status_code}")
    return client, CSRF_META.search((await client.get("/desk")).text).group(1)


def _has(reader: sqlite3.Connection, name: str) -> bool:
    """Whether the schema has ``name`` (the script also measures older versions)."""
    found = reader.execute("SELECT 1 FROM sqlite_schema WHERE name = ?", (name,)).fetchone()
    return found is not None


def _seen(reader: sqlite3.Connection) -> tuple[int, int]:
    """What any page would see now: imported books in the catalogue; and rows staged."""
    catalogue = "CatalogueBooks" if _has(reader, "CatalogueBooks") else "Books"
    imported = reader.execute(
        f"SELECT count(*) FROM {catalogue} WHERE Title >= ? AND Title < ?",
        (f"{TITLE_PREFIX} 0", f"{TITLE_PREFIX} :"),  # "Imp 0000000" to "Imp 9999999"
    ).fetchone()[0]
    has_staging = _has(reader, "ImportStagedBooks")
    staged = has_staging and reader.execute("SELECT count(*) FROM ImportStagedBooks").fetchone()[0]
    return imported, staged or 0


def _publishing(reader: sqlite3.Connection) -> bool:
    """Whether a run is being published now, with some of its books written, invisible."""
    if not _has(reader, "CatalogueBooks"):
        return False
    return (
        reader.execute(
            "SELECT 1 FROM ImportRuns r WHERE r.Status = 'staged' AND r.BookBase IS NOT NULL "
            "AND EXISTS (SELECT 1 FROM Books b WHERE b.ImportID = r.ImportID)"
        ).fetchone()
        is not None
    )


async def contend(
    base_url: str,
    database: Path,
    csv_path: Path,
    rows: int,
    after_preview: Callable[[], None] | None = None,
) -> Contention:
    """Upload ``csv_path``, preview and confirm it, scanning at the desk all the while;
    ``after_preview`` is called once the preview has answered."""
    result = Contention(rows)
    staff, staff_token = await _signed_in(base_url)
    desk, desk_token = await _signed_in(base_url)
    reader = sqlite3.connect(database, check_same_thread=False)
    try:
        selected = await desk.post(
            "/desk/scan",
            data={"code": DESK_CARD, "csrf_token": desk_token},
            headers={"HX-Request": "true"},
        )
        patron = SHOWN_PATRON.search(selected.text).group(1)
        with csv_path.open("rb") as upload:
            uploaded = await staff.post(
                "/admin/import",
                data={"kind": "books", "csrf_token": staff_token},
                files={"file": ("books.csv", upload, "text/csv")},
            )
        if uploaded.status_code != 303:
            raise RuntimeError(f"the upload failed: {uploaded.status_code} {uploaded.text[:300]}")
        phase = "preview"

        async def import_file() -> None:
            nonlocal phase
            started = time.monotonic()
            preview = await staff.get("/admin/import/preview")
            result.preview_status = preview.status_code
            result.preview_seconds = time.monotonic() - started
            if after_preview:
                after_preview()
            phase = "confirm"
            started = time.monotonic()
            confirm = await staff.post("/admin/import/confirm", data={"csrf_token": staff_token})
            result.confirm_status = confirm.status_code
            result.confirm_seconds = time.monotonic() - started

        importing = asyncio.ensure_future(import_file())
        while not importing.done():
            publishing_before = await asyncio.to_thread(_publishing, reader)
            started = time.monotonic()
            response = await desk.post(
                "/desk/scan",
                data={
                    "code": DESK_COPY,
                    "mode": "auto",
                    "patron": patron,
                    "csrf_token": desk_token,
                },
                headers={"HX-Request": "true"},
            )
            elapsed = (time.monotonic() - started) * 1000
            imported, staged = await asyncio.to_thread(_seen, reader)
            publishing_after = await asyncio.to_thread(_publishing, reader)
            result.scans.append(
                Scan(
                    phase,
                    response.status_code,
                    elapsed,
                    "database is locked" in response.text,
                    imported,
                    staged,
                    publishing_before and publishing_after,
                )
            )
        await importing
        result.imported_after = (await asyncio.to_thread(_seen, reader))[0]
    finally:
        reader.close()
        await staff.aclose()
        await desk.aclose()
    return result


def report(
    result: Contention, peak_before_mb: float, peak_after_preview_mb: float, size_mb: float
) -> str:
    lines = [
        f"Measured {common.utc_now()} on {common.machine()}, with "
        f"`python -m bench.import_contention{' --full' if result.rows >= 1_000_000 else ''}`. "
        f"The server is `shelfmark serve` (one process); a librarian uploads a generated CSV of "
        f"{result.rows:,} new books ({size_mb:.0f} MB, one copy each), opens the preview and "
        "confirms, while a desk scans one copy over and over (lend, return, …) until the "
        "confirm answers. Milliseconds unless marked. "
        f"{common.load_note(os.getloadavg()[0], when='at the end')}",
        "",
    ]
    table = []
    for phase, seconds in (
        ("preview", result.preview_seconds),
        ("confirm", result.confirm_seconds),
    ):
        scans = [scan for scan in result.scans if scan.phase == phase]
        if not scans:
            table.append([phase, f"{seconds:.1f} s", 0, "-", "-", "-", "-"])
            continue
        summary = common.Summary.of([scan.ms for scan in scans])
        failed = sum(scan.status != 200 for scan in scans)
        table.append(
            [
                phase,
                f"{seconds:.1f} s",
                len(scans),
                common.ms(summary.median),
                common.ms(summary.p95),
                common.ms(summary.maximum),
                failed,
            ]
        )
    lines.append(
        common.table(
            ["import request", "took", "desk scans", "median", "p95", "max", "not 200"], table
        )
    )
    half = sum(0 < scan.imported_seen < result.rows for scan in result.scans)
    publishing = [scan for scan in result.scans if scan.during_publication]
    if publishing:
        summary = common.Summary.of([scan.ms for scan in publishing])
        lines += [
            "",
            f"Of the confirm's scans, {len(publishing)} were sent and answered while the "
            "import's rows were being written into the catalogue (invisible until the flip): "
            f"median {common.ms(summary.median)}, p95 {common.ms(summary.p95)}, "
            f"max {common.ms(summary.maximum)}, "
            f"not 200: {sum(scan.status != 200 for scan in publishing)}.",
        ]
    lines += [
        "",
        f'Scans answered "database is locked": {sum(scan.locked for scan in result.scans)}. '
        f"Times a reader saw part of the import in the catalogue: {half} "
        f"(imported books after the confirm: {result.imported_after:,}).",
        "",
        f"Server peak resident memory (VmHWM): {peak_before_mb:.0f} MB after start and sign-in, "
        f"{peak_after_preview_mb:.0f} MB after the preview of {result.rows:,} rows "
        "(the preview reads the file as a stream and keeps a bounded summary; "
        "before staging it peaked near 1 GB at a million rows).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="a million rows")
    parser.add_argument("--rows", type=int, help="rows in the file (default 100,000)")
    args = parser.parse_args(argv)
    rows = args.rows or (1_000_000 if args.full else 100_000)
    with tempfile.TemporaryDirectory(prefix="shelfmark-import-bench-") as folder:
        database = Path(folder) / "library.sqlite3"
        csv_path = Path(folder) / "books.csv"
        build_library(database)
        write_csv(csv_path, rows)
        size_mb = csv_path.stat().st_size / 1e6
        with common.serve(database) as server:
            peak_before = server.peak_rss_mb()
            peaks: list[float] = []
            result = asyncio.run(
                contend(
                    server.base_url,
                    database,
                    csv_path,
                    rows,
                    after_preview=lambda: peaks.append(server.peak_rss_mb()),
                )
            )
        if result.preview_status != 200 or result.confirm_status != 303:
            raise SystemExit(
                f"the import failed: preview {result.preview_status}, "
                f"confirm {result.confirm_status}"
            )
        text = report(result, peak_before, peaks[0], size_mb)
    print(text)
    common.write_section("Import contention", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
