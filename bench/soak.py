"""Soak: a mixed load against ``shelfmark serve`` for a bounded time, then the books are audited.

    python -m bench.soak [--seconds 60] [--full] [--no-write]

Builds a demo library in a temporary SQLite file (fixed seed), serves it on a
loopback port (bench.common.serve) and runs, all at once: visitors typing
searches (htmx fragments), librarians lending and returning their own copies
at the desk, and an admin editing titles and adding copies. The server's
resident memory is sampled every second. Afterwards it checks that no request
failed, that the database holds exactly the rows the clients were told were
written (no loan lost or duplicated, an event for each, each edit and copy
there once), that the file and the FTS index pass their integrity checks,
and that memory stayed flat. The figures replace the "## Soak" section of
docs/benchmarks.md. ``--full`` soaks for ten minutes. Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx

from bench.common import REPORT, machine, ms, percentile, serve, table, utc_now, write_section
from webapp import demo
from webapp.db import connect_sync, migrate
from webapp.resources import MIGRATIONS

SECTION = "Soak"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
# The patron the desk shows, which every scan sends back (as the desk page does).
SHOWN_PATRON = re.compile(r'<input type="hidden" id="desk-patron" name="patron" value="(\d+)"')
DESKS = 4
SEARCHERS = 3
COPIES_PER_DESK = 3  # under the Student loan limit of 5, so every lend is allowed
EDITED_BOOKS = 20
SEARCH_WORDS = ("the", "lost", "gat", "winter", "1984", "garden", "orwell", "sec", "a", "night")
# Memory counts as flat when the last quarter's median RSS is within this of the
# median after warm-up: the page cache and the allocator settle in the first minute.
FLAT_MEMORY_GROWTH = 0.10


@dataclass
class Tally:
    """What the clients were told: every write the server confirmed, every failure."""

    latencies: dict[str, list[float]] = field(
        default_factory=lambda: {"search": [], "lend": [], "return": [], "edit": [], "add copy": []}
    )
    errors: Counter = field(default_factory=Counter)
    lent: int = 0
    returned: int = 0
    titles: dict[int, str] = field(default_factory=dict)
    copies_added: Counter = field(default_factory=Counter)


def build_library(path: Path) -> tuple[list[tuple[str, list[str]]], list[int]]:
    """The demo library, a patron card and copies for each desk, and the books the admin edits."""
    conn = connect_sync(path)
    try:
        migrate(conn, MIGRATIONS)
        demo.load(conn, books=2000, patrons=100, seed=1, today=date.today(), show_progress=False)
        desks = []
        for desk in range(DESKS):
            card = f"SOAK{desk:02d}"
            conn.execute(
                "INSERT INTO Users (Name, Role, CardNumber) VALUES (?, 'Student', ?)",
                (f"Soak Borrower {desk}", card),
            )
            book_id = conn.execute(
                "INSERT INTO Books (Title, Author) VALUES (?, 'Soak')", (f"Soak Desk Title {desk}",)
            ).lastrowid
            barcodes = [f"SOAK-{desk}-{n}" for n in range(COPIES_PER_DESK)]
            conn.executemany(
                "INSERT INTO Copies (BookID, Barcode) VALUES (?, ?)",
                [(book_id, code) for code in barcodes],
            )
            desks.append((card, barcodes))
        edited = [
            row[0]
            for row in conn.execute(
                "SELECT BookID FROM Books WHERE Title NOT LIKE 'Soak%' ORDER BY BookID LIMIT ?",
                (EDITED_BOOKS,),
            )
        ]
        return desks, edited
    finally:
        conn.close()


async def signed_in(base_url: str, email: str | None) -> tuple[httpx.AsyncClient, str]:
    client = httpx.AsyncClient(base_url=base_url, timeout=30)
    token = CSRF_META.search((await client.get("/login")).text).group(1)
    if email:
        response = await client.post(
            "/login", data={"email": email, "password": demo.DEMO_PASSWORD, "csrf_token": token}
        )
        if response.status_code != 302:
            raise RuntimeError(f"could not sign in as {email}: {response.status_code}")
        token = CSRF_META.search((await client.get("/search")).text).group(1)
    return client, token


async def timed(tally: Tally, kind: str, request) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response = await request
    except httpx.HTTPError as error:
        tally.errors[f"{kind}: {type(error).__name__}"] += 1
        return None
    tally.latencies[kind].append((time.perf_counter() - started) * 1000)
    return response


async def searcher(base_url: str, tally: Tally, deadline: float, seed: int) -> None:
    rng = random.Random(seed)
    client, _ = await signed_in(base_url, None)
    try:
        while time.monotonic() < deadline:
            word = rng.choice(SEARCH_WORDS)
            query = word[: rng.randint(1, len(word))]
            response = await timed(
                tally,
                "search",
                client.get("/search", params={"q": query}, headers={"HX-Request": "true"}),
            )
            if response is not None and response.status_code != 200:
                tally.errors[f"search {response.status_code}"] += 1
    finally:
        await client.aclose()


async def desk(
    base_url: str, tally: Tally, deadline: float, card: str, barcodes: list[str]
) -> None:
    client, token = await signed_in(base_url, "bob@example.com")
    try:
        selected = await client.post(
            "/desk/scan", data={"code": card, "csrf_token": token}, headers={"HX-Request": "true"}
        )
        patron = SHOWN_PATRON.search(selected.text).group(1)
        while time.monotonic() < deadline:
            for mode, kind in (("lend", "lend"), ("return", "return")):
                for code in barcodes:
                    response = await timed(
                        tally,
                        kind,
                        client.post(
                            "/desk/scan",
                            data={
                                "code": code,
                                "mode": mode,
                                "csrf_token": token,
                                "patron": patron,
                            },
                            headers={"HX-Request": "true"},
                        ),
                    )
                    if response is None:
                        continue
                    if response.status_code != 200:
                        tally.errors[f"{kind} {response.status_code}"] += 1
                    elif kind == "lend":
                        tally.lent += 1
                    else:
                        tally.returned += 1
    finally:
        await client.aclose()


async def editor(base_url: str, tally: Tally, deadline: float, books: list[int]) -> None:
    client, token = await signed_in(base_url, "carol@example.com")
    number = 0
    try:
        while time.monotonic() < deadline:
            book_id = books[number % len(books)]
            number += 1
            title = f"Soak edit {number}"
            response = await timed(
                tally,
                "edit",
                client.post(
                    f"/books/{book_id}/edit",
                    data={"title": title, "author": "Soak Editor", "csrf_token": token},
                ),
            )
            if response is not None:
                if response.status_code == 303:
                    tally.titles[book_id] = title
                else:
                    tally.errors[f"edit {response.status_code}"] += 1
            if number % 5 == 0:
                response = await timed(
                    tally,
                    "add copy",
                    client.post(
                        f"/books/{book_id}/copies", data={"copies": "1", "csrf_token": token}
                    ),
                )
                if response is not None:
                    if response.status_code == 303:
                        tally.copies_added[book_id] += 1
                    else:
                        tally.errors[f"add copy {response.status_code}"] += 1
    finally:
        await client.aclose()


async def sample_memory(server, samples: list[float], deadline: float) -> None:
    while time.monotonic() < deadline:
        samples.append(server.memory_mb("VmRSS"))
        await asyncio.sleep(1)


def audit(database: Path, tally: Tally, copies_before: dict[int, int]) -> dict[str, object]:
    """What the database holds against what the clients were told."""
    conn = connect_sync(database)
    try:
        soak_loans = (
            "SELECT l.* FROM Loans l JOIN Copies c USING (CopyID) WHERE c.Barcode LIKE 'SOAK-%'"
        )
        loans = conn.execute(f"SELECT count(*) FROM ({soak_loans})").fetchone()[0]
        returned = conn.execute(
            f"SELECT count(*) FROM ({soak_loans}) WHERE ReturnedAt IS NOT NULL"
        ).fetchone()[0]
        events = dict(
            conn.execute(
                "SELECT Kind, count(*) FROM Events WHERE Kind IN ('lend', 'return') AND LoanID IN "
                f"(SELECT LoanID FROM ({soak_loans})) GROUP BY Kind"
            ).fetchall()
        )
        doubled = conn.execute(
            f"SELECT count(*) FROM (SELECT CopyID FROM ({soak_loans}) WHERE ReturnedAt IS NULL "
            "GROUP BY CopyID HAVING count(*) > 1)"
        ).fetchone()[0]
        wrong_titles = sum(
            conn.execute("SELECT Title FROM Books WHERE BookID = ?", (book_id,)).fetchone()[0]
            != title
            for book_id, title in tally.titles.items()
        )
        wrong_copies = sum(
            conn.execute("SELECT count(*) FROM Copies WHERE BookID = ?", (book_id,)).fetchone()[0]
            != count + tally.copies_added[book_id]
            for book_id, count in copies_before.items()
        )
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        conn.execute("INSERT INTO BooksSearch (BooksSearch) VALUES ('integrity-check')")
        indexed = conn.execute("SELECT count(*) FROM BooksSearch").fetchone()[0]
        books = conn.execute("SELECT count(*) FROM Books").fetchone()[0]
    finally:
        conn.close()
    return {
        "lost or duplicated loans": abs(loans - tally.lent) + abs(returned - tally.returned),
        "loans without their event": abs(events.get("lend", 0) - loans)
        + abs(events.get("return", 0) - returned),
        "copies on two open loans": doubled,
        "edits lost": wrong_titles,
        "added copies lost or doubled": wrong_copies,
        "integrity check": integrity,
        "books missing from the search index": books - indexed,
    }


def memory_verdict(samples: list[float]) -> tuple[float, float, float, bool]:
    """(median after warm-up, median of the last quarter, growth, flat?)."""
    settled = samples[max(1, len(samples) // 10) :] or samples
    quarter = settled[-max(1, len(settled) // 4) :]
    start, end = statistics.median(settled[: max(1, len(settled) // 4)]), statistics.median(quarter)
    growth = (end - start) / start
    return start, end, growth, growth <= FLAT_MEMORY_GROWTH


async def soak(seconds: float) -> tuple[Tally, dict, list[float], float]:
    with tempfile.TemporaryDirectory(prefix="shelfmark-soak-") as directory:
        database = Path(directory) / "soak.sqlite3"
        desks, edited = build_library(database)
        conn = connect_sync(database)
        copies_before = {
            book_id: conn.execute(
                "SELECT count(*) FROM Copies WHERE BookID = ?", (book_id,)
            ).fetchone()[0]
            for book_id in edited
        }
        conn.close()
        tally = Tally()
        samples: list[float] = []
        with serve(database) as server:
            started = time.monotonic()
            deadline = started + seconds
            await asyncio.gather(
                sample_memory(server, samples, deadline),
                *(searcher(server.base_url, tally, deadline, seed) for seed in range(SEARCHERS)),
                *(desk(server.base_url, tally, deadline, card, codes) for card, codes in desks),
                editor(server.base_url, tally, deadline, edited),
            )
            elapsed = time.monotonic() - started
        return tally, audit(database, tally, copies_before), samples, elapsed


def report(tally: Tally, checks: dict, samples: list[float], elapsed: float) -> tuple[str, bool]:
    start, end, growth, flat = memory_verdict(samples)
    rows = [
        (kind, f"{len(values):,}", ms(statistics.median(values)), ms(percentile(values, 0.99)))
        for kind, values in tally.latencies.items()
        if values
    ]
    total = sum(len(values) for values in tally.latencies.values())
    errors = sum(tally.errors.values())
    passed = (
        errors == 0
        and flat
        and checks["integrity check"] == "ok"
        and all(value == 0 for name, value in checks.items() if name != "integrity check")
    )
    lines = [
        f"{utc_now()}, {elapsed:.0f} s on {machine()}: {SEARCHERS} visitors searching as they type, "
        f"{DESKS} librarians lending and returning at the desk, one admin editing titles and adding "
        f"copies, all at once over loopback against `shelfmark serve` (`python -m bench.soak`).",
        "",
        table(("request", "count", "median ms", "p99 ms"), rows),
        "",
        f"{total:,} requests, {total / elapsed:,.0f} per second; errors: {errors}"
        + (
            f" ({', '.join(f'{name} ×{count}' for name, count in tally.errors.items())})"
            if errors
            else ""
        )
        + ".",
        "",
        table(
            ("check after the soak", "result"), [(name, value) for name, value in checks.items()]
        ),
        "",
        f"Server memory (RSS, sampled every second, {len(samples)} samples): {start:.1f} MB after "
        f"warm-up, {end:.1f} MB in the last quarter ({growth:+.1%}): "
        + ("flat" if flat else f"GROWING (more than {FLAT_MEMORY_GROWTH:.0%})")
        + f". Peak {max(samples):.1f} MB, in the first seconds while the {DESKS + 1} staff clients "
        "sign in at once: each argon2id password check takes 64 MiB, and the worker threads "
        "(cores + 4) bound how many run together.",
        "",
        "Verdict: " + ("passed." if passed else "FAILED."),
    ]
    return "\n".join(lines), passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to soak (default 60)")
    parser.add_argument("--full", action="store_true", help="soak for ten minutes")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args(argv)
    seconds = 600.0 if args.full else args.seconds
    tally, checks, samples, elapsed = asyncio.run(soak(seconds))
    body, passed = report(tally, checks, samples, elapsed)
    print(body)
    if not args.no_write:
        write_section(SECTION, body)
        print(f"Updated {REPORT}", file=sys.stderr)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
