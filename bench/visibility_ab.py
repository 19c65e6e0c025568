"""What the catalogue's visibility test costs search (issue #17 item 4): one measurement,
run from two checkouts in turn (this one and main), to compare ratios on a shared machine.

Every catalogue read now goes through the ``CatalogueBooks`` view (a book is shown unless
its import is not yet published; sql/0017_import_visibility.sql). This script serves
bench.search's generated catalogue of one size (migrated by the checkout it runs from),
with the search cache off so that every query is found and ranked anew, sends
bench.search's query mix from one client, and prints one JSON line: the server's CPU
milliseconds per search (which, unlike latency, does not grow when other work shares the
machine), the median and p95 latency, and whether the schema has the view.

    python -m bench.visibility_ab --size 100k --requests 600
    python -m bench.visibility_ab --size 100k --hidden 50000   # during a publication

With ``--hidden N`` (this checkout only) the newest N books of a copy of the catalogue
belong to a run still being published, as while a large import is written: search reads
matches newest first, so it skips those one by one.

    python -m bench.visibility_ab --size 100k --flip-updates 10000

With ``--flip-updates N`` (this checkout only) it times the flip instead: a file that
changes the publisher of N known books (with ISBNs) is staged and written on a copy of the
catalogue, and the one transaction that applies the changes and shows the run
(``staging.make_visible``) is timed, in process.

The desk's side is ``python -m bench.circulation --no-write`` run the same way (its
"server CPU ms/op"). docs/benchmarks.md, "Import visibility", has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import statistics
import time
from urllib.parse import quote

from bench import common
from bench.search import CACHE_OFF, HX, QUERY_MIX, database_for
from webapp.db import connect_sync
from webapp.importing import books as book_import
from webapp.importing import staging
from webapp.leases import new_holder


def _mid_publication(path, hidden: int):
    """A copy of the catalogue whose newest ``hidden`` books belong to a run that is
    being published (written, not yet shown)."""
    copy = path.with_name(f"{path.stem}-hidden-{hidden}.sqlite3")
    shutil.copyfile(path, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute(
            "INSERT INTO ImportRuns (Source, Mapping, Holder, Status, StartedAt, TouchedAt, "
            "BookBase) VALUES ('bench', '{}', 'bench', 'staged', '2026-01-01T00:00:00Z', "
            "'2026-01-01T00:00:00Z', 0)"
        )
        conn.execute(
            "UPDATE Books SET ImportID = last_insert_rowid() "
            "WHERE BookID > (SELECT max(BookID) FROM Books) - ?",
            (hidden,),
        )
    return copy


def _flip_seconds(path, updates: int) -> float:
    """Seconds the flip takes for a run that changes ``updates`` known books."""
    copy = path.with_name(f"{path.stem}-flip.sqlite3")
    shutil.copyfile(path, copy)
    conn = connect_sync(copy)
    try:
        known = conn.execute(
            "SELECT ISBN FROM Books WHERE ISBN IS NOT NULL ORDER BY BookID LIMIT ?", (updates,)
        ).fetchall()
        text = "title,isbn,publisher\n" + "".join(
            f"Known {number},{row[0]},Flip Press\n" for number, row in enumerate(known)
        )
        _, rows = book_import.read_books_csv(text)
        import_id, _ = staging.run_sync(
            conn, book_import.stage_steps(rows, source="bench", mapping="{}")
        )

        def written() -> staging.Steps:
            yield staging.Step(staging.begin_publication, (import_id, new_holder()))
            while not (yield staging.Step(staging.publish_some, (import_id,)))[0]:
                pass

        staging.run_sync(conn, written())
        conn.execute("BEGIN IMMEDIATE")
        started = time.perf_counter()
        staging.make_visible(conn, import_id)
        conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()
        copy.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100k", help="bench.search's preset (default 100k)")
    parser.add_argument("--requests", type=int, default=600, help="searches measured")
    parser.add_argument(
        "--hidden", type=int, default=0, help="newest books left invisible, as mid-import"
    )
    parser.add_argument(
        "--flip-updates", type=int, default=0, help="time the flip of a run changing N books"
    )
    args = parser.parse_args(argv)
    path = database_for(args.size)
    if args.flip_updates:
        seconds = _flip_seconds(path, args.flip_updates)
        print(json.dumps({"size": args.size, "flip_updates": args.flip_updates, "flip_s": seconds}))
        return 0
    if args.hidden:
        path = _mid_publication(path, args.hidden)
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
                "hidden": args.hidden,
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
