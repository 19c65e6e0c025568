"""The database: one SQLite file, many readers, exactly one writer.

This module knows nothing of Quart. The web app, the CLI, the scheduler and the
benchmarks all use it, so a PostgreSQL backend could later replace it without
touching the routes: the interface is deliberately narrow (``fetch_all``,
``fetch_one``, ``fetch_value``, ``transaction``).

Why one writer: SQLite allows a single writer at a time anyway. Funnelling every
write through one connection behind an ``asyncio.Lock`` turns lock contention
into an orderly queue inside the process, and ``BEGIN IMMEDIATE`` takes the
write lock up front, so a transaction that reads then writes can never fail
half-way with SQLITE_BUSY (a deferred transaction that upgrades ignores
``busy_timeout``). In WAL mode readers never wait behind the writer.
Other processes (the scheduler, the CLI, a server's further workers) have a
writer each: their ``BEGIN IMMEDIATE`` waits up to ``busy_timeout`` for
SQLite's write lock, so they take turns instead of failing.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import aiosqlite

Params = Sequence[Any] | dict[str, Any]
P = ParamSpec("P")
T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

# Each connection gets these: foreign keys are off by default and the setting
# is per connection; synchronous=NORMAL is durable enough in WAL mode (a power
# cut may lose the last commits, never corrupt the file). Memory-mapped I/O is
# off: at a million titles the mapped pages alone pushed the server's resident
# memory past 850 MB, and searches measured no slower with mmap off and a page
# cache instead; 32 MB per connection keeps the five connections of a server
# within the 250 MB memory target (docs/benchmarks.md, Search).
CONNECTION_PRAGMAS = (
    "PRAGMA foreign_keys = ON",
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA cache_size = -32000",
    "PRAGMA mmap_size = 0",
    "PRAGMA temp_store = MEMORY",
)


MIGRATION_LOCK_WAIT = 15 * 60  # seconds another process's migrations may take before we give up
SWITCH_TO_WAL_WAIT = 60


def _execute_when_unlocked(conn: sqlite3.Connection, sql: str, seconds: float) -> None:
    """Run ``sql``, trying again while another process holds the lock it needs.

    SQLite answers "database is locked" without waiting ``busy_timeout`` when
    two processes switch a new file to WAL at once, and ``BEGIN IMMEDIATE``
    gives up after ``busy_timeout`` even though a long migration in another
    process will finish: both are worth waiting for.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            conn.execute(sql)
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def configure(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Apply the project's pragmas to a plain ``sqlite3`` connection."""
    conn.row_factory = sqlite3.Row
    _execute_when_unlocked(conn, "PRAGMA journal_mode = WAL", SWITCH_TO_WAL_WAIT)
    for pragma in CONNECTION_PRAGMAS:
        conn.execute(pragma)
    return conn


def connect_sync(path: str | Path) -> sqlite3.Connection:
    """A plain, autocommit ``sqlite3`` connection for bulk work in a worker thread.

    Bulk imports and data generation use this instead of aiosqlite: every
    awaited aiosqlite call costs a thread hop, which dominates row-at-a-time work.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    return configure(conn)


def migration_files(directory: Path) -> list[tuple[int, Path]]:
    """The numbered migrations in ``directory``, in the order they apply."""
    found = []
    for path in directory.iterdir():
        match = MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    found.sort()
    numbers = [number for number, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migrations in {directory} are not numbered 1..n: {numbers}")
    return found


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration, one by one (a trigger's body stays whole).

    ``executescript`` would be simpler but commits any open transaction before
    it starts, so it cannot run inside the one that holds the migration lock.
    """
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip(" \t\n;"):
        yield pending


def migrate(conn: sqlite3.Connection, directory: Path, target: int | None = None) -> list[int]:
    """Apply pending migrations, each in its own transaction; return those applied.

    The version lives in ``PRAGMA user_version``, written in the same
    transaction as the migration, so a crash leaves either the old schema with
    the old number or the new schema with the new one.

    Two processes may start together on the same file (the web server and the
    scheduler restarted at once). Each migration therefore takes SQLite's write
    lock first and reads the version inside that transaction: the second
    process waits for the first, then finds the migration applied and skips
    it, instead of failing with "table ... already exists".
    """
    applied = []
    for number, path in migration_files(directory):
        if number <= schema_version(conn) or (target is not None and number > target):
            continue
        script = path.read_text(encoding="utf-8")
        _execute_when_unlocked(conn, "BEGIN IMMEDIATE", MIGRATION_LOCK_WAIT)
        try:
            already_applied = schema_version(conn) >= number
            if not already_applied:
                for statement in _statements(script):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if not already_applied:
            applied.append(number)
    return applied


def schema_sql(conn: sqlite3.Connection) -> str:
    """The current schema as readable SQL, in a stable order (used to keep sql/schema.sql)."""
    rows = conn.execute(
        "SELECT type, name, sql FROM sqlite_master "
        "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
        "AND name NOT GLOB '*_data' AND name NOT GLOB '*_idx' AND name NOT GLOB '*_docsize' "
        "AND name NOT GLOB '*_config' AND name NOT GLOB '*_content' "
        "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 "
        "ELSE 3 END, name"
    ).fetchall()
    return "".join(f"{row[2].strip()};\n\n" for row in rows)


def inserted_id(cursor: sqlite3.Cursor | aiosqlite.Cursor) -> int:
    """The id of the row an INSERT just wrote (``lastrowid`` is None after other statements)."""
    row_id = cursor.lastrowid
    if row_id is None:
        raise RuntimeError("the statement inserted no row")
    return row_id


def _first(rows: Iterable[sqlite3.Row]) -> sqlite3.Row | None:
    return next(iter(rows), None)


def _check_private_hand_off() -> None:
    """Refuse to import, saying why, if aiosqlite lost the private hand-off below.

    ``_in_connection_thread`` is the one place that uses aiosqlite's private
    ``Connection._execute`` and ``_conn``. An upgrade that renames them would
    otherwise fail only on the first request; this fails ``import webapp`` at once
    with the fix in the message (tests/test_db.py checks the hand-off itself).
    """
    execute = inspect.getattr_static(aiosqlite.Connection, "_execute", None)
    connection = inspect.getattr_static(aiosqlite.Connection, "_conn", None)
    if not inspect.iscoroutinefunction(execute) or not isinstance(connection, property):
        raise ImportError(
            f"aiosqlite {getattr(aiosqlite, '__version__', '?')} has no Connection._execute "
            "coroutine and _conn property, which webapp/db.py's _in_connection_thread needs: "
            "install a version pyproject.toml allows, or port that one function"
        )


_check_private_hand_off()


async def _in_connection_thread(
    conn: aiosqlite.Connection,
    function: Callable[Concatenate[sqlite3.Connection, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Run ``function(sqlite3_connection, ...)`` in ``conn``'s own thread, in one hand-off.

    aiosqlite queues every call for the connection's thread and wakes the loop
    with its result; ``_execute`` is that queue, the one aiosqlite itself uses
    for ``execute``. It is private API, used here only, because aiosqlite's
    public API runs one statement per hand-off (about 30 us of CPU each) and a
    desk scan needs a dozen statements. The version is pinned in pyproject.toml
    and ``_check_private_hand_off`` fails the import if the API changes.
    """
    return await conn._execute(function, conn._conn, *args, **kwargs)


def _in_transaction(conn: sqlite3.Connection, function: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = function(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


class Transaction:
    """A write transaction on the writer connection; reads inside it see its own writes."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> aiosqlite.Cursor:
        return await self._conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._conn.executemany(sql, rows)

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run an INSERT and return the new row's id."""
        return inserted_id(await self._conn.execute(sql, params))

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """The first row, for queries that return at most one (every row is read)."""
        return _first(await self._conn.execute_fetchall(sql, params))

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]


class Database:
    """A SQLite file opened as a small pool of readers and a single writer."""

    def __init__(
        self, path: str | Path, readers: int = 4, write_wait: float = BUSY_TIMEOUT_MS / 1000
    ) -> None:
        self.path = Path(path)
        # How long a write waits for the writer, as another process's write waits for
        # SQLite's lock (busy_timeout): then "database is locked", which the app answers
        # with 503 "busy, try again" instead of keeping a desk waiting behind a long
        # write (a large import's publication).
        self._write_wait = write_wait
        self._reader_count = readers
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []
        self._writer: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA journal_mode = WAL")
        for pragma in CONNECTION_PRAGMAS:
            await conn.execute(pragma)
        return conn

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        for _ in range(self._reader_count):
            conn = await self._connect()
            self._all_readers.append(conn)
            self._readers.put_nowait(conn)

    async def close(self) -> None:
        for conn in self._all_readers:
            await conn.close()
        self._all_readers.clear()
        self._readers = asyncio.Queue()
        if self._writer is not None:
            await self._writer.close()
            self._writer = None

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[aiosqlite.Connection]:
        if not self._all_readers:
            raise RuntimeError("the database is not open")
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self._reader() as conn:
            return list(await conn.execute_fetchall(sql, params))

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """The first row, for queries that return at most one (every row is read).

        One trip to the connection's thread instead of three (execute, fetchone,
        close): each trip hands the GIL between threads, and a desk scan makes
        a dozen of these reads.
        """
        async with self._reader() as conn:
            return _first(await conn.execute_fetchall(sql, params))

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]

    async def fetch_row(self, sql: str, params: Params = ()) -> sqlite3.Row:
        """The one row of a query that always returns one (aggregates, such as counts)."""
        row = await self.fetch_one(sql, params)
        if row is None:
            raise RuntimeError("the query returned no row")
        return row

    async def read(
        self,
        function: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run the synchronous ``function(conn, ...)`` on a reader, in its thread.

        For work that needs several queries (a search, a desk panel): one
        hand-off to the connection's thread and back instead of one per query.
        Each hand-off passes the GIL between threads and wakes the event loop,
        which costs more than a small indexed query; ``function`` must only
        read, and must not touch the event loop.
        """
        async with self._reader() as conn:
            return await _in_connection_thread(conn, function, *args, **kwargs)

    async def write(
        self,
        function: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run the synchronous ``function(conn, ...)`` as one transaction on the writer.

        ``BEGIN IMMEDIATE``, the function and ``COMMIT`` (or ``ROLLBACK`` if it
        raises) run in the writer's thread as one hand-off, so a lend or a
        return holds the write lock for its SQL alone, not for a dozen round
        trips through the event loop.
        """
        if self._writer is None:
            raise RuntimeError("the database is not open")
        async with self._writer_turn():
            return await _in_connection_thread(
                self._writer, _in_transaction, lambda conn: function(conn, *args, **kwargs)
            )

    @asynccontextmanager
    async def _writer_turn(self) -> AsyncIterator[None]:
        """Wait for the writer (in turn, first come first served), at most ``write_wait``."""
        try:
            await asyncio.wait_for(self._write_lock.acquire(), self._write_wait)
        except TimeoutError:
            raise sqlite3.OperationalError(
                "database is locked: another write took longer than "
                f"{self._write_wait:g} s (a large import?)"
            ) from None
        try:
            yield
        finally:
            self._write_lock.release()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """``BEGIN IMMEDIATE`` on the one writer; commit on success, roll back on error."""
        if self._writer is None:
            raise RuntimeError("the database is not open")
        async with self._writer_turn():
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._writer)
            except BaseException:
                # SQLite ends the transaction itself on some errors (a full disk):
                # a ROLLBACK then would hide the real error behind its own.
                if self._writer.in_transaction:
                    await self._writer.execute("ROLLBACK")
                raise
            else:
                await self._writer.execute("COMMIT")

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One write statement in its own transaction; returns ``lastrowid``."""
        async with self.transaction() as tx:
            return await tx.insert(sql, params)

    async def run_sync(self, function, *args):
        """Run ``function(conn, *args)`` on a fresh plain connection in a worker thread.

        For the rare maintenance job (migrations, backups) that needs the sqlite3
        API itself; request handlers never call it.
        """

        def work():
            conn = connect_sync(self.path)
            try:
                return function(conn, *args)
            finally:
                conn.close()

        return await asyncio.to_thread(work)
