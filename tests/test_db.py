"""The database module's one-hand-off helpers, on a real SQLite file."""

from __future__ import annotations

import asyncio
import threading

import pytest

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


async def test_a_cancelled_call_leaves_the_connection_answering_the_next_ones(db):
    started = threading.Event()
    release = threading.Event()

    def slow_count(conn):
        started.set()
        release.wait(timeout=10)
        return conn.execute("SELECT count(*) FROM Books").fetchone()[0]

    task = asyncio.ensure_future(db.write(slow_count))
    await asyncio.to_thread(started.wait, 10)
    task.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await db.write(lambda conn: conn.execute("SELECT 1").fetchone()[0]) == 1
    async with db.transaction() as tx:
        await tx.insert("INSERT INTO Books (Title, Author) VALUES ('Emma', 'Jane Austen')")
    assert await db.fetch_value("SELECT count(*) FROM Books") == 1


async def test_a_transaction_reports_rows_changed_and_new_ids(db):
    async with db.transaction() as tx:
        first = await tx.insert("INSERT INTO Books (Title, Author) VALUES ('Dune', 'F. Herbert')")
        await tx.executemany(
            "INSERT INTO Books (Title, Author) VALUES (?, ?)",
            (("Emma", "Jane Austen"), ("Persuasion", "Jane Austen")),
        )
        changed = await tx.execute(
            "UPDATE Books SET Author = 'Austen' WHERE Author = 'Jane Austen'"
        )
        inside = await tx.fetch_value("SELECT count(*) FROM Books WHERE Author = 'Austen'")

    assert changed.rowcount == 2 and inside == 2
    assert await db.fetch_value("SELECT Title FROM Books WHERE BookID = ?", (first,)) == "Dune"


async def test_a_closed_database_refuses_work_at_once_and_leaves_no_threads(database_path):
    def connection_threads():
        return {thread for thread in threading.enumerate() if thread.name == "shelfmark-sqlite"}

    before = connection_threads()
    database = Database(database_path, readers=2)
    await database.open()
    opened = connection_threads() - before
    assert len(opened) == 3  # the writer and two readers
    await database.close()

    with pytest.raises(RuntimeError, match="not open"):
        await database.read(lambda conn: conn.execute("SELECT 1").fetchone())
    with pytest.raises(RuntimeError, match="not open"):
        await database.write(lambda conn: None)
    for thread in opened:
        thread.join(timeout=10)
        assert not thread.is_alive()
