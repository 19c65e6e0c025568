"""What one hand-off to a database connection's thread costs, two ways.

    python -m bench.handoff [--rounds 9] [--calls 3000]

``Database.read`` and ``Database.write`` run a plain function on a
connection's own thread in one hand-off. This compares, on the same demo
library (2,000 titles, fixed seed):

- ``db.py thread``: what ``webapp/db.py`` does, a plain ``sqlite3`` connection on a
  ``threading.Thread`` fed by a ``queue.SimpleQueue``, answering the event loop with
  ``loop.call_soon_threadsafe``;
- ``executor``: a plain ``sqlite3`` connection opened in the one thread of a
  ``ThreadPoolExecutor(max_workers=1)``, reached with ``loop.run_in_executor``.

Each is timed on an empty function (the hand-off alone) and on a desk-scan-like
read of a dozen indexed statements, one call after another, and then with 16 tasks
sharing 4 connections. Rounds alternate between the ways so that other load on a
shared machine spreads over both; the median round is reported, in microseconds of
wall time and of this process's CPU time (all threads) per call. Prints a table;
writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from bench import common
from webapp import demo
from webapp.clock import library_today
from webapp.config import Settings
from webapp.db import _ConnectionThread, configure, connect_sync, migrate
from webapp.resources import MIGRATIONS


def _open_plain(path: Path) -> sqlite3.Connection:
    return configure(sqlite3.connect(path, isolation_level=None))


class Executor:
    name = "executor"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.executor = ThreadPoolExecutor(max_workers=1)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.conn = await loop.run_in_executor(self.executor, _open_plain, self.path)

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, partial(function, self.conn, *args))

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.executor, self.conn.close)
        self.executor.shutdown()


class DbThread:
    name = "db.py thread"

    def __init__(self, path: Path) -> None:
        self.thread = _ConnectionThread(path)

    async def open(self) -> None:
        await self.thread.open()

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        return await self.thread.run(function, *args)

    async def close(self) -> None:
        await self.thread.close()


WAYS = (DbThread, Executor)


def nothing(conn) -> None:
    return None


def desk_like(conn, copy_id: int, user_id: int) -> int:
    """A dozen small indexed reads, the shape of a desk scan's lookups."""
    found = 0
    for _ in range(3):
        found += len(conn.execute("SELECT * FROM Copies WHERE CopyID = ?", (copy_id,)).fetchall())
        found += len(
            conn.execute(
                "SELECT b.Title FROM Books b JOIN Copies c ON c.BookID = b.BookID "
                "WHERE c.CopyID = ?",
                (copy_id,),
            ).fetchall()
        )
        found += len(
            conn.execute(
                "SELECT * FROM Loans WHERE CopyID = ? AND ReturnedAt IS NULL", (copy_id,)
            ).fetchall()
        )
        found += len(conn.execute("SELECT * FROM Users WHERE UserID = ?", (user_id,)).fetchall())
    return found


async def sequential(way, function, args, calls: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for number in range(calls):
        await way.run(function, *args(number))
    return (
        (time.perf_counter() - wall) / calls * 1e6,
        (time.process_time() - cpu) / calls * 1e6,
    )


async def concurrent(ways, function, args, calls: int, tasks: int = 16) -> tuple[float, float]:
    pool: asyncio.Queue = asyncio.Queue()
    for way in ways:
        pool.put_nowait(way)

    async def client(offset: int) -> None:
        for number in range(offset, calls, tasks):
            way = await pool.get()
            try:
                await way.run(function, *args(number))
            finally:
                pool.put_nowait(way)

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client(offset) for offset in range(tasks)))
    return (
        (time.perf_counter() - wall) / calls * 1e6,
        (time.process_time() - cpu) / calls * 1e6,
    )


async def measure(path: Path, rounds: int, calls: int, copies: list[int], users: list[int]):
    def desk_args(number: int) -> tuple[int, int]:
        return copies[number % len(copies)], users[number % len(users)]

    cases = {
        "empty function": (nothing, lambda number: ()),
        "desk-like read (12 statements)": (desk_like, desk_args),
    }
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(rounds):
        for way_class in WAYS:
            single = way_class(path)
            pool = [way_class(path) for _ in range(4)]
            await single.open()
            for way in pool:
                await way.open()
            for case, (function, args) in cases.items():
                await sequential(single, function, args, calls // 10)  # warm up
                results.setdefault((case, way_class.name), []).append(
                    await sequential(single, function, args, calls)
                )
                results.setdefault(
                    (case + ", 16 tasks on 4 connections", way_class.name), []
                ).append(await concurrent(pool, function, args, calls))
            await single.close()
            for way in pool:
                await way.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "handoff.sqlite3"
        conn = connect_sync(path)
        migrate(conn, MIGRATIONS)
        demo.load(
            conn,
            books=2000,
            patrons=100,
            seed=1,
            today=library_today(Settings()),
            show_progress=False,
        )
        copies = [row[0] for row in conn.execute("SELECT CopyID FROM Copies ORDER BY CopyID")]
        users = [row[0] for row in conn.execute("SELECT UserID FROM Users ORDER BY UserID")]
        conn.close()
        results = asyncio.run(measure(path, args.rounds, args.calls, copies, users))
    print(f"{common.machine()}; {args.rounds} rounds of {args.calls} calls; median round")
    print(f"{'case':<52} {'way':<18} {'wall µs/call':>13} {'cpu µs/call':>12}")
    for (case, way), samples in results.items():
        wall = statistics.median(sample[0] for sample in samples)
        cpu = statistics.median(sample[1] for sample in samples)
        print(f"{case:<52} {way:<18} {wall:>13.1f} {cpu:>12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
