"""Lend+return throughput through the running server, with 1 and 16 concurrent desks.

    python -m bench.circulation [--seconds 10] [--concurrency 1 16] [--workers 1 2] [--no-write]

Needs wrk (``apt-get install wrk``), which drives the load.

Builds a demo library in a temporary SQLite file (fixed seed), starts
``shelfmark serve`` on a free port (bench/common.py) with one worker, the default,
and with one per core (``SHELFMARK_WORKERS``, as the README serves a busy
library), signs in one librarian
session per desk, and has each desk lend a pile of its own copies and return
it, pile after pile (lend-only then return-only mode, so the desk's double-scan
guard does not interfere). It counts errors and "database is locked" in the answers and
the server's log, checks afterwards that no copy is on two open loans, prints the figures
and replaces the "## Circulation" section of docs/benchmarks.md.

The load comes from wrk, a separate process on loopback, one connection and one thread
per desk (bench/circulation.lua): a load client written in Python cost about half as much
CPU per scan as the server itself, and on a small machine it took that CPU from the server.
Each run has its own desks, patrons and copies, so a run that stops in the middle of a
pile leaves nothing on loan that the next run needs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import common
from bench.generate import add_rules_matrix
from webapp import demo
from webapp.clock import library_today
from webapp.config import Settings
from webapp.db import connect_sync, migrate
from webapp.resources import MIGRATIONS

SECTION = "Circulation"
WRK_SCRIPT = Path(__file__).with_suffix(".lua")
WRK_RESULT = re.compile(r"^RESULT (.*)$", re.MULTILINE)
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
COPIES_PER_DESK = 20
PILE = 5
TARGET_PER_SECOND = 200


@dataclass
class Run:
    concurrency: int
    workers: int
    seconds: float = 0.0
    operations: int = 0
    median_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    locked: int = 0
    double_loans: int = 0
    load_average: float = 0.0
    server_cpu_seconds: float = 0.0
    wrk_cpu_seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds

    @property
    def server_cpu_ms_per_operation(self) -> float:
        return self.server_cpu_seconds * 1000 / self.operations

    @property
    def wrk_cpu_ms_per_operation(self) -> float:
        return self.wrk_cpu_seconds * 1000 / self.operations

    @property
    def ceiling_per_second(self) -> float:
        """Operations per second the server could answer with a core to each busy worker:
        a worker's Python runs on one core at a time (one process, one GIL), the workers
        share the machine's cores, and one desk keeps only one worker busy at a time."""
        cores = min(self.workers, self.concurrency, os.cpu_count() or 1)
        return self.operations * cores / self.server_cpu_seconds


def build_library(path: Path, desks: int) -> list[tuple[str, list[str]]]:
    """A demo library plus, for each desk, a patron card and copies on the shelf to lend,
    under a full 10 × 10 rules matrix (``bench.generate.add_rules_matrix``)."""
    conn = connect_sync(path)
    migrate(conn, MIGRATIONS)
    demo.load(
        conn, books=2000, patrons=100, seed=1, today=library_today(Settings()), show_progress=False
    )
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
        conn.execute(
            "INSERT INTO Users (Name, Role, CardNumber) VALUES (?, 'Student', ?)",
            (f"Bench Patron {number}", card),
        )
        plan.append((card, free[number * COPIES_PER_DESK : (number + 1) * COPIES_PER_DESK]))
    add_rules_matrix(conn)
    conn.close()
    return plan


SHOWN_PATRON = re.compile(r'<input type="hidden" id="desk-patron" name="patron" value="(\d+)"')


def open_desk(base_url: str, card: str) -> tuple[str, str, str]:
    """Sign a librarian in and select the patron ``card``; the session cookie, the CSRF
    token and the patron's id, which each scan sends as the desk page does."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        token = CSRF_META.search(client.get("/login").text).group(1)
        response = client.post(
            "/login",
            data={"email": "bob@example.com", "password": demo.DEMO_PASSWORD, "csrf_token": token},
        )
        if response.status_code != 302:
            raise RuntimeError(f"could not sign in: {response.status_code}")
        token = CSRF_META.search(client.get("/desk").text).group(1)
        selected = client.post(
            "/desk/scan", data={"code": card, "csrf_token": token}, headers={"HX-Request": "true"}
        )
        selected.raise_for_status()
        patron = SHOWN_PATRON.search(selected.text).group(1)
        return client.cookies["shelfmark_session"], token, patron


def measure(server: common.Server, plan, seconds: float, workers: int) -> Run:
    """One wrk run: a thread and a connection per desk of ``plan``, for ``seconds``."""
    run = Run(len(plan), workers, load_average=os.getloadavg()[0])
    desks = []
    for card, copies in plan:
        cookie, token, patron = open_desk(server.base_url, card)
        desks.append(f"{cookie} {token} {patron} {','.join(copies)}")
    cpu_before = server.cpu_seconds()
    wrk_before = _children_cpu_seconds()
    finished = subprocess.run(
        [
            "wrk",
            f"--threads={len(plan)}",
            f"--connections={len(plan)}",
            f"--duration={seconds:g}s",
            "--timeout=30s",
            f"--script={WRK_SCRIPT}",
            server.base_url,
            "--",
            *desks,
        ],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    run.server_cpu_seconds = server.cpu_seconds() - cpu_before
    run.wrk_cpu_seconds = _children_cpu_seconds() - wrk_before
    figures = dict(
        field.split("=") for field in WRK_RESULT.search(finished.stdout).group(1).split()
    )
    run.operations = int(figures["requests"])
    run.seconds = float(figures["seconds"])
    run.median_ms = float(figures["median_ms"])
    run.p95_ms = float(figures["p95_ms"])
    run.p99_ms = float(figures["p99_ms"])
    run.errors = int(figures["errors"]) + int(figures["socket_errors"])
    run.locked = int(figures["locked"])
    return run


def _children_cpu_seconds() -> float:
    """CPU time of this process's children that have exited: wrk, once its run is over (the
    server, a child too, counts only once it has stopped)."""
    times = os.times()
    return times.children_user + times.children_system


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
        rows.append(
            (
                run.workers,
                run.concurrency,
                f"{run.operations:,}",
                f"{run.per_second:,.0f}",
                common.ms(run.median_ms),
                common.ms(run.p95_ms),
                common.ms(run.p99_ms),
                common.ms(run.server_cpu_ms_per_operation),
                common.ms(run.wrk_cpu_ms_per_operation),
                f"{run.ceiling_per_second:,.0f}",
                run.errors,
                run.locked,
                run.double_loans,
                f"{run.load_average:.1f}",
            )
        )
    return "\n".join(
        [
            f"Measured {common.utc_now()} on {common.machine()}, with `python -m bench.circulation`: "
            "SQLite file in a temporary directory, `shelfmark serve` in its own process with one "
            "Hypercorn worker (the default) and with one per core (`SHELFMARK_WORKERS`, as the "
            "README serves a busy library); the load from wrk in another process on loopback, one "
            "connection per desk (`bench/circulation.lua`); each desk is a signed-in librarian "
            f"session lending and returning its own copies, a pile of {PILE} lent then returned "
            "(one operation = one lend or one return request, answered with the desk fragments). "
            "Server CPU counts all the server's processes. Milliseconds.",
            "",
            common.table(
                (
                    "workers",
                    "desks",
                    "operations",
                    "ops/s",
                    "median",
                    "p95",
                    "p99",
                    "server CPU per operation",
                    "wrk's CPU per operation",
                    "server's ceiling (a core per busy worker), ops/s",
                    "errors",
                    '"database is locked"',
                    "copies on two open loans",
                    "load average at start",
                ),
                rows,
            ),
            "",
            *targets(runs),
            "",
            "Within a worker every write goes through its one writer connection (`BEGIN IMMEDIATE` "
            "behind an asyncio lock), so more desks queue inside the process instead of meeting "
            "SQLite's busy lock. Workers are separate processes, each with its writer: they meet "
            "at SQLite's write lock and wait for it (`busy_timeout`, 10 s, `webapp/db.py`) "
            'instead of failing, which the "database is locked" column counts. wrk shares the '
            "machine's cores with the server, and a load average above the core count means "
            "other work was running too: compare runs made on a quiet machine.",
        ]
    )


def targets(runs: list[Run]) -> list[str]:
    """The issue's target for the busiest run of each worker count, with the CPU evidence
    when it is missed."""
    busiest = {}
    for run in runs:
        if run.concurrency >= busiest.get(run.workers, run).concurrency:
            busiest[run.workers] = run
    return [_target_line(run) for _, run in sorted(busiest.items())]


def _target_line(run: Run) -> str:
    safe = run.locked == 0 and run.double_loans == 0 and run.errors == 0
    fast = run.per_second >= TARGET_PER_SECOND
    line = (
        f"- {run.workers} worker{'s' if run.workers > 1 else ''}, {run.concurrency} desks: "
        f'{run.locked} "database is locked", {run.double_loans} double loans, {run.errors} '
        f"errors: {_verdict(safe)} (target none); {run.per_second:,.0f} operations/s: "
        f"{_verdict(fast)} (target at least {TARGET_PER_SECOND})."
    )
    if fast:
        return line
    line += (
        f" Each operation cost {common.ms(run.server_cpu_ms_per_operation)} ms of server CPU "
        f"and {common.ms(run.wrk_cpu_ms_per_operation)} ms of wrk's. A worker is one process "
        "whose Python runs on one core at a time (the GIL), so with "
        f"{run.workers} the server cannot answer much more than "
        f"{run.ceiling_per_second:,.0f} operations/s however quiet the machine; the measured "
        f"rate is lower again when other work (load average {run.load_average:.1f} at the "
        f"start) shares the {os.cpu_count()} cores. A scan is one hand-off to the database's "
        "writer thread (the lend or return and the panel the desk shows next) after one to "
        "look up the session; the rest of the server's share is the framework (Hypercorn and "
        "its access log, Quart's request context and session cookie, Jinja). "
    )
    if run.ceiling_per_second >= TARGET_PER_SECOND:
        return line + (
            "The server's own CPU would allow the target, so the shortfall is the machine's: "
            "measure again when it is quiet."
        )
    return line + (
        f"What would meet it: under {1000 / TARGET_PER_SECOND:.0f} ms of server CPU per "
        "operation, or more workers on more cores."
    )


def _verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def run_all(args) -> list[Run]:
    runs = []
    with tempfile.TemporaryDirectory(prefix="shelfmark-bench-") as directory:
        database = Path(directory) / "bench.sqlite3"
        plan = build_library(database, sum(args.concurrency) * len(args.workers))
        first_desk = 0
        for workers in args.workers:
            for concurrency in args.concurrency:
                desks = plan[first_desk : first_desk + concurrency]
                first_desk += concurrency
                log_path = Path(directory) / f"server-{workers}-{concurrency}.log"
                with common.serve(
                    database, log_path=log_path, settings={"SHELFMARK_WORKERS": str(workers)}
                ) as server:
                    run = measure(server, desks, args.seconds, workers)
                run.locked += log_path.read_text(errors="replace").count("database is locked")
                run.double_loans = count_double_loans(database)
                runs.append(run)
                print(
                    f"{workers} worker(s), {concurrency:>2} desks: {run.operations:,} ops in "
                    f"{run.seconds:.1f} s = {run.per_second:,.0f} ops/s; median "
                    f"{run.median_ms:.1f} ms, p95 {run.p95_ms:.1f} ms, p99 {run.p99_ms:.1f} ms; "
                    f"server CPU {run.server_cpu_ms_per_operation:.2f} ms/op, wrk "
                    f"{run.wrk_cpu_ms_per_operation:.2f} ms/op; errors {run.errors}, "
                    f"locked {run.locked}, double loans {run.double_loans}"
                )
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog="The load comes from wrk: apt-get install wrk."
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="duration of each run (default 10)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[1, 16],
        help="concurrent desks per run (default: 1 16)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=sorted({1, os.cpu_count() or 1}),
        help="server workers per run (default: 1 and one per core)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print(
            "bench.circulation drives the load with wrk, which is not installed: "
            "apt-get install wrk",
            file=sys.stderr,
        )
        return 2
    runs = run_all(args)
    if not args.no_write:
        common.write_section(SECTION, report(runs))
        print(f"Updated {common.REPORT.relative_to(common.REPO)}")
    failed = any(run.errors or run.locked or run.double_loans for run in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
