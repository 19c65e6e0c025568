"""What the catalogue's visibility test costs search (issue #17 item 4): one measurement,
run from two checkouts in turn (this one and main), to compare ratios on a shared machine.

Every catalogue read now goes through the ``CatalogueBooks`` view (a book is shown unless
its import is not yet published; sql/0015_import_visibility.sql). This script serves
bench.search's generated catalogue of one size (migrated by the checkout it runs from),
with the search cache off so that every query is found and ranked anew, sends
bench.search's query mix from one client, and prints one JSON line: the server's CPU
milliseconds per search (which, unlike latency, does not grow when other work shares the
machine), the median and p95 latency, and whether the schema has the view.

    python -m bench.visibility_ab --size 100k --requests 600

The desk's side is ``python -m bench.circulation --no-write`` run the same way (its
"server CPU ms/op"). docs/benchmarks.md, "Import visibility", has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
from urllib.parse import quote

from bench import common
from bench.search import CACHE_OFF, HX, QUERY_MIX, database_for


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100k", help="bench.search's preset (default 100k)")
    parser.add_argument("--requests", type=int, default=600, help="searches measured")
    args = parser.parse_args(argv)
    path = database_for(args.size)
    with sqlite3.connect(path) as conn:
        has_view = conn.execute(
            "SELECT 1 FROM sqlite_schema WHERE name = 'CatalogueBooks'"
        ).fetchone()
    paths = [f"/search?q={quote(text)}" for text in QUERY_MIX]
    with common.serve(path, settings=CACHE_OFF) as server:
        # Warm the page cache and the process (the vocabulary is read at start).
        asyncio.run(
            common.load(
                server.base_url,
                paths,
                clients=1,
                requests=len(paths) * 2,
                max_seconds=60,
                headers=HX,
            )
        )
        cpu_before = server.cpu_seconds()
        latencies, _ = asyncio.run(
            common.load(
                server.base_url,
                paths,
                clients=1,
                requests=args.requests,
                max_seconds=300,
                headers=HX,
            )
        )
        cpu = server.cpu_seconds() - cpu_before
    print(
        json.dumps(
            {
                "checkout": str(common.REPO),
                "has_view": has_view is not None,
                "size": args.size,
                "searches": len(latencies),
                "server_cpu_ms_per_search": round(cpu * 1000 / len(latencies), 3),
                "median_ms": round(statistics.median(latencies), 2),
                "p95_ms": round(statistics.quantiles(latencies, n=20)[-1], 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
