"""The database module's one-hand-off helpers, on a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest

from webapp import write_failures
from webapp.db import Database


async def test_read_runs_every_query_of_a_function_on_one_connection_off_the_loop(db):
    loop_thread = threading.get_ident()

    def titles_and_thread(conn):
        count = conn.execute("SELECT count(*) FROM Books").fetchone()[0]
        first = conn.execute("SELECT Title FROM Books ORDER BY BookID LIMIT 1").fetchone()
        return count, first, threading.get_ident()

    count, first, thread = await db.read(titles_and_thread)

    assert count == 0 and first is None
    assert thread != loop_thread


async def test_write_commits_everything_the_function_wrote(db):
    def add_two_books(conn, author):
        for title in ("Dune", "Emma"):
            conn.execute("INSERT INTO Books (Title, Author) VALUES (?, ?)", (title, author))
        return conn.execute("SELECT count(*) FROM Books").fetchone()[0]

    assert await db.write(add_two_books, "Someone") == 2
    assert await db.fetch_value("SELECT count(*) FROM Books WHERE Author = 'Someone'") == 2


async def test_write_keeps_nothing_when_the_function_fails_half_way(db):
    def add_then_fail(conn):
        conn.execute("INSERT INTO Books (Title, Author) VALUES ('Dune', 'Frank Herbert')")
        raise LookupError("refused after the first insert")

    with pytest.raises(LookupError):
        await db.write(add_then_fail)

    assert await db.fetch_value("SELECT count(*) FROM Books") == 0
    # The writer is usable again: the failed transaction was rolled back.
    await db.write(
        lambda conn: conn.execute(
            "INSERT INTO Books (Title, Author) VALUES ('Emma', 'Jane Austen')"
        )
    )
    assert await db.fetch_value("SELECT Title FROM Books") == "Emma"


def test_an_aiosqlite_without_the_private_hand_off_fails_the_import_with_the_fix(monkeypatch):
    """An upgrade that drops aiosqlite's ``Connection._execute`` must not break the app
    silently on the first request: ``import webapp.db`` says what is wrong and what to do."""
    import aiosqlite

    from webapp import db as database

    database._check_private_hand_off()
    monkeypatch.delattr(aiosqlite.Connection, "_execute")
    with pytest.raises(ImportError, match="_in_connection_thread"):
        database._check_private_hand_off()


async def test_a_write_waiting_too_long_for_the_writer_is_refused_as_busy(database_path):
    """A desk scan behind a long write (a large import's publication) is answered
    "busy, try again" (503 through webapp.write_failures) instead of waiting for it."""
    async with Database(database_path, write_wait=0.2) as database:
        long_write = asyncio.ensure_future(database.write(lambda conn: time.sleep(1)))
        await asyncio.sleep(0.05)
        with pytest.raises(sqlite3.OperationalError) as refused:
            await database.write(lambda conn: conn.execute("SELECT 1"))
        await long_write
        assert write_failures.classify(refused.value).message == write_failures.BUSY_MESSAGE
        assert await database.write(lambda conn: conn.execute("SELECT 1").fetchone()[0]) == 1
