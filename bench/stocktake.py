"""Stocktake at 50,000 copies: scan and progress-page latency through a running server.

    python -m bench.stocktake [--copies 50000] [--scans 400] [--pages 60] [--no-write]

Generates a library with bench/generate.py (``copies`` copies, two per title), starts a
whole-library stocktake with four copies in five already scanned (a stocktake near its
end: the progress page's counting is at its heaviest), serves it with ``shelfmark
serve`` (bench/common.py) and, as one signed-in librarian with keep-alive, measures:

- a stocktake scan (``POST /stocktakes/N/scan``, htmx: the scan log's answer), of copies
  not yet scanned, one after another;
- a desk scan (``POST /desk/scan``, return-only mode, of copies on loan), the same way,
  as the reference a stocktake scan is held to (issue 24: "as fast as a desk scan");
- the progress table the scan page polls (``GET /stocktakes/N`` with ``HX-Request``),
  and the whole scan page, target under 200 ms;
- the report of what is missing (10,000 copies here), once per run for scale.

Replaces the "## Stocktake" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench import common
from bench.generate import LIBRARIAN_EMAIL, generate

SECTION = "Stocktake"
PAGE_TARGET_MS = 200
HX = {"HX-Request": "true"}
SCAN_BLOCK = 20
EXPECT = {"stocktake scan": "Counted:", "desk scan (return)": "Returned:"}


def build_library(path: Path, copies: int) -> tuple[int, list[str], list[str]]:
    """The library, a stocktake of it with four copies in five scanned; returns the
    stocktake's id, copies not yet scanned and copies on loan (for the desk)."""
    titles = copies // 2
    generate(
        path,
        titles=titles,
        patrons=max(titles // 10, 100),
        loans=titles,
        overdue=max(titles // 25, 50),
        progress=False,
    )
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        librarian = conn.execute(
            "SELECT UserID FROM Users WHERE Email = ?", (LIBRARIAN_EMAIL,)
        ).fetchone()[0]
        stocktake_id = conn.execute(
            "INSERT INTO Stocktakes (Name, WholeLibrary, StartedBy) VALUES ('Bench', 1, ?)",
            (librarian,),
        ).lastrowid
        conn.execute(
            "INSERT INTO StocktakeScans (StocktakeID, CopyID, Code, Result, ScannedBy) "
            "SELECT ?, CopyID, Barcode, 'expected', ? FROM Copies WHERE CopyID % 5 <> 0",
            (stocktake_id, librarian),
        )
        conn.execute("COMMIT")
        unscanned = [
            row[0]
            for row in conn.execute(
                "SELECT c.Barcode FROM Copies c WHERE c.CopyID % 5 = 0 AND NOT EXISTS "
                "(SELECT 1 FROM Loans l WHERE l.CopyID = c.CopyID AND l.ReturnedAt IS NULL) "
                "ORDER BY c.CopyID"
            )
        ]
        on_loan = [
            row[0]
            for row in conn.execute(
                "SELECT c.Barcode FROM Loans l JOIN Copies c ON c.CopyID = l.CopyID "
                "WHERE l.ReturnedAt IS NULL ORDER BY l.LoanID"
            )
        ]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return stocktake_id, unscanned, on_loan


def scan_request(
    client: httpx.Client, kind: str, page: str, code: str, token: str
) -> Callable[[], httpx.Response]:
    """A stocktake scan of ``code`` (any shelf), or a desk scan returning it."""
    if kind == "stocktake scan":
        url, fields = f"{page}/scan", {"code": code, "shelf": ""}
    else:
        url, fields = "/desk/scan", {"code": code, "mode": "return"}
    return lambda: client.post(url, data={**fields, "csrf_token": token}, headers=HX)


def timed(request: Callable[[], httpx.Response], expect: str) -> float:
    """One request's latency in ms; its answer must be a 200 containing ``expect``."""
    started = time.perf_counter()
    response = request()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200 or expect not in response.text:
        raise RuntimeError(f"unexpected answer {response.status_code}: {response.text[:300]}")
    return elapsed


def measure(
    args,
) -> tuple[dict[str, common.Summary], dict[str, float], dict[str, int], float]:
    """Latency summaries by what was measured, the server's CPU per scan by kind (ms), the
    counts checked afterwards, and the load average at the start."""
    with tempfile.TemporaryDirectory(prefix="shelfmark-bench-") as directory:
        database = Path(directory) / "stocktake.sqlite3"
        print(f"generating {args.copies:,} copies…", file=sys.stderr)
        stocktake_id, unscanned, on_loan = build_library(database, args.copies)
        scans = unscanned[: args.scans]
        returns = on_loan[: args.scans]
        page = f"/stocktakes/{stocktake_id}"
        load = os.getloadavg()[0]
        samples: dict[str, list[float]] = {}
        cpu: dict[str, float] = {}
        with common.serve(database) as server:
            client, token = common.signed_in_librarian(server.base_url)
            try:
                # Warm the server's caches and the database's pages alike for both.
                timed(lambda: client.get(page), "Progress")
                # The two kinds of scan take turns in blocks, so that whatever else the
                # machine does meanwhile weighs on both alike; the server's CPU time is
                # counted for each block, a cost that other work does not inflate.
                for first in range(0, len(scans), SCAN_BLOCK):
                    for kind, codes in (("stocktake scan", scans), ("desk scan (return)", returns)):
                        before = server.cpu_seconds()
                        samples.setdefault(kind, []).extend(
                            timed(scan_request(client, kind, page, code, token), EXPECT[kind])
                            for code in codes[first : first + SCAN_BLOCK]
                        )
                        cpu[kind] = cpu.get(kind, 0.0) + server.cpu_seconds() - before
                samples["progress table (polled)"] = [
                    timed(lambda: client.get(page, headers=HX), "expected copies scanned")
                    for _ in range(args.pages)
                ]
                samples["scan page (whole)"] = [
                    timed(lambda: client.get(page), "Scan a copy barcode")
                    for _ in range(args.pages)
                ]
                samples["report (open: what would be missing)"] = [
                    timed(lambda: client.get(f"{page}/report"), "Missing")
                    for _ in range(max(args.pages // 10, 3))
                ]
            finally:
                client.close()
        conn = sqlite3.connect(database)
        try:
            counts = {
                "copies": conn.execute("SELECT count(*) FROM Copies").fetchone()[0],
                "scans": conn.execute(
                    "SELECT count(*) FROM StocktakeScans WHERE StocktakeID = ?", (stocktake_id,)
                ).fetchone()[0],
                "distinct": conn.execute(
                    "SELECT count(DISTINCT CopyID) FROM StocktakeScans WHERE StocktakeID = ?",
                    (stocktake_id,),
                ).fetchone()[0],
            }
        finally:
            conn.close()
    summaries = {name: common.Summary.of(values) for name, values in samples.items()}
    cpu_ms = {kind: seconds * 1000 / len(samples[kind]) for kind, seconds in cpu.items()}
    return summaries, cpu_ms, counts, load


def report(
    summaries: dict[str, common.Summary],
    cpu_ms: dict[str, float],
    counts: dict[str, int],
    load: float,
) -> str:
    rows = [
        (name, f"{s.count:,}", common.ms(s.median), common.ms(s.p95), common.ms(s.p99),
         common.ms(s.maximum))
        for name, s in summaries.items()
    ]  # fmt: skip
    scan = summaries["stocktake scan"]
    desk = summaries["desk scan (return)"]
    progress = summaries["progress table (polled)"]
    whole = summaries["scan page (whole)"]
    verdicts = [
        f"- A stocktake scan: median {common.ms(scan.median)} ms, p95 {common.ms(scan.p95)} ms, "
        f"{common.ms(cpu_ms['stocktake scan'])} ms of server CPU; a desk scan: median "
        f"{common.ms(desk.median)} ms, p95 {common.ms(desk.p95)} ms, "
        f"{common.ms(cpu_ms['desk scan (return)'])} ms of server CPU: "
        f"{_verdict(cpu_ms['stocktake scan'] <= cpu_ms['desk scan (return)'] * 1.1)} (target: "
        "as fast as a desk scan; judged on the server's CPU per scan, within 10%, which "
        "other work on the machine does not inflate as it does latency).",
        f"- The progress table: p95 {common.ms(progress.p95)} ms; the whole scan page: p95 "
        f"{common.ms(whole.p95)} ms: {_verdict(max(progress.p95, whole.p95) < PAGE_TARGET_MS)} "
        f"(target under {PAGE_TARGET_MS} ms).",
        f"- {counts['scans']:,} scans recorded for {counts['distinct']:,} copies: each counted "
        f"once ({_verdict(counts['scans'] == counts['distinct'])}).",
    ]
    return "\n".join(
        [
            f"Measured {common.utc_now()} on {common.machine()}, with `python -m bench.stocktake`: "
            f"{counts['copies']:,} copies from `bench/generate.py`, a whole-library stocktake "
            "with four copies in five already scanned, `shelfmark serve` (one worker) in its "
            "own process, one signed-in librarian on one keep-alive connection sending one "
            "request at a time (httpx). A scan is of a copy not yet scanned; a desk scan "
            f"returns a copy on loan (return-only mode), the two kinds taking turns in blocks "
            f"of {SCAN_BLOCK}; the progress table is the fragment the "
            f"scan page polls every 5 s. Milliseconds. {common.load_note(load)}",
            "",
            common.table(("request", "count", "median", "p95", "p99", "max"), rows),
            "",
            *verdicts,
            "",
            "The progress table counts the copies in stock with their scans (the covering "
            "index `Copies_ByLocation`, and one lookup of `StocktakeScans_OncePerCopy` per "
            "copy), less those of them on loan (a few lookups per open loan). A scan is one "
            "write transaction: the copy's lookup, the scan row (the unique index makes it "
            "count once), its event, and the count so far (`Stocktakes.Counted`, kept by a "
            "trigger: counting 40,000 scans at every scan made it a third dearer than a desk "
            "scan).",
        ]
    )


def _verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=50_000, help="copies (default 50,000)")
    parser.add_argument("--scans", type=int, default=400, help="scans of each kind (400)")
    parser.add_argument("--pages", type=int, default=60, help="page loads of each kind (60)")
    parser.add_argument("--no-write", action="store_true", help="do not update the report")
    args = parser.parse_args(argv)
    summaries, cpu_ms, counts, load = measure(args)
    body = report(summaries, cpu_ms, counts, load)
    print(body)
    if not args.no_write:
        common.write_section(SECTION, body)
        print(f"Updated {common.REPORT.relative_to(common.REPO)}", file=sys.stderr)
    return 0 if counts["scans"] == counts["distinct"] else 1


if __name__ == "__main__":
    sys.exit(main())
