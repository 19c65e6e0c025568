"""Lend+return throughput through the running server, with 1 and 16 concurrent desks.

    python -m bench.circulation [--seconds 10] [--concurrency 1 16] [--no-write]

Builds a demo library in a temporary SQLite file (fixed seed), starts
``shelfmark serve`` on a free port (bench/common.py), signs in one librarian
session per desk, and has each desk lend a pile of its own copies and return
it, pile after pile (lend-only then return-only mode, so the desk's double-scan
guard does not interfere). It counts errors and "database is locked" lines in the server's
log, checks afterwards that no copy is on two open loans, prints the figures
and replaces the "## Circulation" section of docs/benchmarks.md.

The client is httpx's AsyncClient in this process: one event loop drives all
desks, so with 16 desks the client competes with the server for the machine's
cores; the figures are a lower bound for a real desk, which sends one scan at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import common
from webapp import demo
from webapp.clock import library_today
from webapp.config import Settings
from webapp.db import connect_sync, migrate
from webapp.resources import MIGRATIONS

SECTION = "Circulation"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
COPIES_PER_DESK = 20
PILE = 5
TARGET_PER_SECOND = 200


@dataclass
class Run:
    concurrency: int
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    locked: int = 0
    double_loans: int = 0
    load_average: float = 0.0
    server_cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0

    @property
    def operations(self) -> int:
        return len(self.latencies_ms)

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds

    @property
    def server_cpu_ms_per_operation(self) -> float:
        return self.server_cpu_seconds * 1000 / self.operations

    @property
    def client_cpu_ms_per_operation(self) -> float:
        return self.client_cpu_seconds * 1000 / self.operations

    @property
    def ceiling_per_second(self) -> float:
        """Operations per second the server could answer with a core to itself: its Python
        runs on one core at a time (one process, one GIL), whatever the machine has."""
        return self.operations / self.server_cpu_seconds


def build_library(path: Path, desks: int) -> list[tuple[str, list[str]]]:
    """A demo library plus, for each desk, a patron card and copies on the shelf to lend."""
    conn = connect_sync(path)
    migrate(conn, MIGRATIONS)
    demo.load(conn, books=2000, patrons=100, seed=1, today=library_today(Settings()),
              show_progress=False)
    free = [
        row[0]
        for row in conn.execute(
            "SELECT c.Barcode FROM Copies c WHERE c.Status = 'in_stock' "
            "AND NOT EXISTS (SELECT 1 FROM Loans l WHERE l.CopyID = c.CopyID AND l.ReturnedAt IS NULL) "
            "ORDER BY c.CopyID"
        )
    ]
    plan = []
    for number in range(desks):
        card = f"BENCH{number:03d}"
        conn.execute("INSERT INTO Users (Name, Role, CardNumber) VALUES (?, 'Student', ?)",
                     (f"Bench Patron {number}", card))
        plan.append((card, free[number * COPIES_PER_DESK:(number + 1) * COPIES_PER_DESK]))
    conn.close()
    return plan


async def open_desk(base_url: str, card: str) -> tuple[httpx.AsyncClient, str]:
    client = httpx.AsyncClient(base_url=base_url, timeout=60)
    token = CSRF_META.search((await client.get("/login")).text).group(1)
    response = await client.post(
        "/login", data={"email": "bob@example.com", "password": demo.DEMO_PASSWORD, "csrf_token": token}
    )
    if response.status_code != 302:
        raise RuntimeError(f"could not sign in: {response.status_code}")
    token = CSRF_META.search((await client.get("/desk")).text).group(1)
    (await client.post("/desk/scan", data={"code": card, "csrf_token": token},
                       headers={"HX-Request": "true"})).raise_for_status()
    return client, token


async def desk_loop(client: httpx.AsyncClient, token: str, copies: list[str], until: float, run: Run):
    """Lend a pile of the desk's copies in lend-only mode, return it in return-only mode, and
    go on to the next pile: the mode changes once per pile, as at a real desk. The time
    is checked between piles, so every copy is back on the shelf when the run ends."""
    piles = [copies[start:start + PILE] for start in range(0, len(copies), PILE)]
    index = 0
    while time.perf_counter() < until:
        pile = piles[index % len(piles)]
        index += 1
        for mode in ("lend", "return"):
            for barcode in pile:
                started = time.perf_counter()
                response = await client.post(
                    "/desk/scan", data={"code": barcode, "mode": mode, "csrf_token": token},
                    headers={"HX-Request": "true"},
                )
                run.latencies_ms.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    run.errors += 1
                if "database is locked" in response.text:
                    run.locked += 1


async def measure(server: common.Server, plan, concurrency: int, seconds: float) -> Run:
    run = Run(concurrency, load_average=os.getloadavg()[0])
    desks = [await open_desk(server.base_url, card) for card, _ in plan[:concurrency]]
    try:
        cpu_before = server.cpu_seconds()
        client_before = _own_cpu_seconds()
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(
            *(desk_loop(client, token, copies, until, run)
              for (client, token), (_, copies) in zip(desks, plan, strict=False))
        )
        run.seconds = time.perf_counter() - started
        run.server_cpu_seconds = server.cpu_seconds() - cpu_before
        run.client_cpu_seconds = _own_cpu_seconds() - client_before
    finally:
        for client, _ in desks:
            await client.aclose()
    return run


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def count_double_loans(path: Path) -> int:
    conn = connect_sync(path)
    try:
        return conn.execute(
            "SELECT count(*) FROM (SELECT CopyID FROM Loans WHERE ReturnedAt IS NULL "
            "GROUP BY CopyID HAVING count(*) > 1)"
        ).fetchone()[0]
    finally:
        conn.close()


def report(runs: list[Run]) -> str:
    """The body of the Circulation section."""
    rows = []
    for run in runs:
        summary = common.Summary.of(run.latencies_ms)
        rows.append((
            run.concurrency, f"{run.operations:,}", f"{run.per_second:,.0f}",
            common.ms(summary.median), common.ms(summary.p95), common.ms(summary.p99),
            common.ms(run.server_cpu_ms_per_operation), common.ms(run.client_cpu_ms_per_operation),
            f"{run.ceiling_per_second:,.0f}",
            run.errors, run.locked, run.double_loans, f"{run.load_average:.1f}",
        ))
    return "\n".join([
        f"Measured {common.utc_now()} on {common.machine()}, with `python -m bench.circulation`: "
        "SQLite file in a temporary directory, `shelfmark serve` (one Hypercorn worker) in its "
        "own process; each desk is a signed-in librarian session lending and returning its own "
        f"copies, a pile of {PILE} lent then returned (one operation = one lend or one return "
        "request, answered with the desk fragments). Milliseconds.",
        "",
        common.table(
            ("desks", "operations", "ops/s", "median", "p95", "p99",
             "server CPU per operation", "client CPU per operation",
             "server's ceiling (one core), ops/s", "errors",
             "\"database is locked\"", "copies on two open loans", "load average at start"),
            rows,
        ),
        "",
        *targets(runs),
        "",
        "Every write goes through the one writer connection (`BEGIN IMMEDIATE` behind an asyncio "
        "lock), so more desks queue inside the process instead of meeting SQLite's busy lock: "
        "throughput stays flat while latency grows with the queue, and no request sees "
        "\"database is locked\". The load generator shares the machine's cores with the server, "
        "and a load average above the core count means other work was running too: compare "
        "runs made on a quiet machine.",
    ])


def targets(runs: list[Run]) -> list[str]:
    """The issue's target for the busiest run, with the CPU evidence when it is missed."""
    run = max(runs, key=lambda r: r.concurrency)
    safe = run.locked == 0 and run.double_loans == 0 and run.errors == 0
    fast = run.per_second >= TARGET_PER_SECOND
    line = (
        f"- {run.concurrency} desks: {run.locked} \"database is locked\", {run.double_loans} "
        f"double loans, {run.errors} errors: {_verdict(safe)} (target none); "
        f"{run.per_second:,.0f} operations/s: {_verdict(fast)} (target at least "
        f"{TARGET_PER_SECOND})."
    )
    if not fast:
        line += (
            f" Each operation cost {common.ms(run.server_cpu_ms_per_operation)} ms of server CPU "
            f"and {common.ms(run.client_cpu_ms_per_operation)} ms of the load client's. The "
            "server is one process whose Python runs on one core at a time (the GIL), so it "
            f"cannot answer much more than {run.ceiling_per_second:,.0f} operations/s however quiet "
            "the machine; the measured rate is lower again because the client and any other "
            f"work (load average {run.load_average:.1f} at the start) share the "
            f"{os.cpu_count()} cores. The server's share is the framework (Quart's request "
            "context, the session cookie, Jinja, Hypercorn's access log) and about fifteen "
            "SQLite calls per operation, each a hand-off to aiosqlite's thread and back "
            "(py-spy: the largest single cost); the SQL itself is a small part. What would "
            f"meet it: under {1000 / TARGET_PER_SECOND:.0f} ms of server CPU per operation, by "
            "fewer hand-offs per scan (the lend or return and the panel's reads as one "
            "synchronous function run in the connection's thread: a few hand-offs instead of "
            "fifteen), with the load client on another machine."
        )
    return [line]


def _verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


async def main_async(args) -> list[Run]:
    runs = []
    with tempfile.TemporaryDirectory(prefix="shelfmark-bench-") as directory:
        database = Path(directory) / "bench.sqlite3"
        log_path = Path(directory) / "server.log"
        plan = build_library(database, max(args.concurrency))
        for concurrency in args.concurrency:
            with common.serve(database, log_path=log_path) as server:
                run = await measure(server, plan, concurrency, args.seconds)
            run.locked += log_path.read_text(errors="replace").count("database is locked")
            run.double_loans = count_double_loans(database)
            runs.append(run)
            summary = common.Summary.of(run.latencies_ms)
            print(f"{concurrency:>2} desks: {run.operations:,} ops in {run.seconds:.1f} s = "
                  f"{run.per_second:,.0f} ops/s; median {summary.median:.1f} ms, "
                  f"p95 {summary.p95:.1f} ms, p99 {summary.p99:.1f} ms; server CPU "
                  f"{run.server_cpu_ms_per_operation:.2f} ms/op, client "
                  f"{run.client_cpu_ms_per_operation:.2f} ms/op; errors {run.errors}, "
                  f"locked {run.locked}, double loans {run.double_loans}")
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each run (default 10)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16],
                        help="concurrent desks per run (default: 1 16)")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args(argv)
    runs = asyncio.run(main_async(args))
    if not args.no_write:
        common.write_section(SECTION, report(runs))
        print(f"Updated {common.REPORT.relative_to(common.REPO)}")
    failed = any(run.errors or run.locked or run.double_loans for run in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
