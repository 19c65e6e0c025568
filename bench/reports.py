"""Every report at a million loans, through a running server, and the desk meanwhile.

    python -m bench.reports [--runs 5]

Generates once (and reuses after: the generator is deterministic) a library of
100,000 titles, 20,000 patrons in Year 7 to 13 and 1,000,000 loans over three
years (bench/generate.py's "reports" preset), starts ``shelfmark serve`` on it
(bench/common.py) and signs the bench librarian in. Then it times, ``runs``
times each:

- each report's CSV file (one report per request), for one school year
  (about a third of the loans) and for the whole history (every loan);
- the whole reports page (every report, one after another on one reader);
- the desk meanwhile: a patron's record (``/patrons/N``, the desk's read) alone,
  and while another client asks for the reports page again and again.

It replaces the "## Reports" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

from bench import common
from webapp.views.reports import CSV_REPORTS

SECTION = "Reports"
SIZE = "reports"
PERIODS = {
    "school year 2024-25": "from=2024-09-01&to=2025-08-31&years=1",
    "all three years": "from=2023-11-01&to=2026-11-29&years=1",
}
TARGET_MS = 1000
DESK_SAMPLES = 60


def database() -> Path:
    return common.preset_database("reports", SIZE)


def timed(client: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
    return elapsed


def costed(server: common.Server, client: httpx.Client, url: str) -> tuple[float, float]:
    """The latency of one request and the server's CPU time for it, in ms: CPU time does
    not grow when other work shares the machine, latency does."""
    cpu_before = server.cpu_seconds()
    latency = timed(client, url)
    return latency, (server.cpu_seconds() - cpu_before) * 1000


def desk_latencies(client: httpx.Client, samples: int) -> list[float]:
    return [timed(client, f"/patrons/{1 + n * 97 % 20_000}") for n in range(samples)]


def measure(runs: int) -> dict:
    path = database()
    conn = sqlite3.connect(path)
    loans = conn.execute("SELECT count(*) FROM Loans").fetchone()[0]
    titles = conn.execute("SELECT count(*) FROM Books").fetchone()[0]
    conn.close()
    figures: dict = {
        "loans": loans,
        "titles": titles,
        "csv": {},
        "page": {},
        "load": os.getloadavg()[0],
    }
    with common.serve(path) as server:
        client = common.signed_in_librarian(server.base_url, timeout=120)[0]
        for label, query in PERIODS.items():
            timed(client, f"/reports?{query}")  # the page cache warms once
            figures["page"][label] = [
                costed(server, client, f"/reports?{query}") for _ in range(runs)
            ]
            for report in CSV_REPORTS:
                figures["csv"][(report, label)] = [
                    costed(server, client, f"/reports/{report}.csv?{query}") for _ in range(runs)
                ]
        figures["desk_alone"] = desk_latencies(client, DESK_SAMPLES)
        busy = threading.Event()
        stop = threading.Event()

        def reports_in_a_loop() -> None:
            other = common.signed_in_librarian(server.base_url, timeout=120)[0]
            try:
                while not stop.is_set():
                    timed(other, f"/reports?{PERIODS['all three years']}")
                    busy.set()
            finally:
                other.close()

        worker = threading.Thread(target=reports_in_a_loop)
        worker.start()
        # Measured from the second page on, so the desk's reads meet reports under way.
        if not busy.wait(timeout=120):
            raise RuntimeError("the reports page did not answer while the desk was measured")
        try:
            figures["desk_busy"] = desk_latencies(client, DESK_SAMPLES)
        finally:
            stop.set()
            worker.join()
        client.close()
    return figures


def report(figures: dict, runs: int) -> str:
    def cell(samples: list[tuple[float, float]]) -> str:
        latencies = [latency for latency, _ in samples]
        cpu = statistics.median(cpu for _, cpu in samples)
        return (
            f"{common.ms(statistics.median(latencies))} / {common.ms(max(latencies))} "
            f"({common.ms(cpu)} CPU)"
        )

    def slowest(samples: list[tuple[float, float]]) -> float:
        return max(latency for latency, _ in samples)

    def cpu_median(samples: list[tuple[float, float]]) -> float:
        return statistics.median(cpu for _, cpu in samples)

    rows = []
    for report_name in CSV_REPORTS:
        rows.append(
            [f"`{report_name}.csv`"]
            + [cell(figures["csv"][(report_name, label)]) for label in PERIODS]
        )
    rows.append(["the whole page"] + [cell(figures["page"][label]) for label in PERIODS])
    slowest_page = max(slowest(samples) for samples in figures["page"].values())
    slowest_csv = max(slowest(samples) for samples in figures["csv"].values())
    costliest_csv = max(cpu_median(samples) for samples in figures["csv"].values())
    costliest_page = max(cpu_median(samples) for samples in figures["page"].values())
    alone, busy = common.Summary.of(figures["desk_alone"]), common.Summary.of(figures["desk_busy"])
    lines = [
        f"`python -m bench.reports --runs {runs}` on {common.utc_now()}: {figures['loans']:,} "
        f"loans of {figures['titles']:,} titles over three years, 20,000 patrons in Year 7 "
        "to 13 (bench/generate.py, preset `reports`), through `shelfmark serve` with one "
        f"worker. Milliseconds: the latency, median / slowest of {runs} requests each (after "
        "one request that warms the page cache), and in brackets the server's median CPU "
        "time per request, which other work on the machine does not inflate.",
        "",
        f"Machine: {common.machine()}. {common.load_note(figures['load'])}",
        "",
        common.table(["report", *PERIODS], rows),
        "",
        f"Target: every report under {TARGET_MS} ms. The costliest report took "
        f"{common.ms(costliest_csv)} ms of server CPU (median), "
        f"{'under' if costliest_csv < TARGET_MS else 'OVER'} the target; its slowest "
        f"latency here was {common.ms(slowest_csv)} ms. The whole page (every report, one "
        f"after another) took {common.ms(costliest_page)} ms of CPU (median), slowest "
        f"{common.ms(slowest_page)} ms.",
        "",
        "The desk while reports run: a patron's record (`/patrons/N`), "
        f"{DESK_SAMPLES} requests one after another, alone and while a second client asks "
        "for the whole reports page over all three years again and again. Reports read on "
        "one reader connection at a time and never take the writer.",
        "",
        common.table(
            ["desk read", "median", "p95", "max"],
            [
                ["alone", common.ms(alone.median), common.ms(alone.p95), common.ms(alone.maximum)],
                [
                    "reports running",
                    common.ms(busy.median),
                    common.ms(busy.p95),
                    common.ms(busy.maximum),
                ],
            ],
        ),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time every report at a million loans.")
    parser.add_argument("--runs", type=int, default=5, help="requests per report and period")
    args = parser.parse_args(argv)
    figures = measure(args.runs)
    body = report(figures, args.runs)
    print(body)
    common.write_section(SECTION, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
