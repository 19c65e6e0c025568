"""A full disk: partial uploads are removed, writes answer 503 with a clear message, and
/healthz says so. The disk is made full for real, without root: SQLite's own size limit
(``PRAGMA max_page_count``) on the app's real database, and the process's file size limit
(RLIMIT_FSIZE) for the upload's real write."""

from __future__ import annotations

import resource
import secrets
import signal
import sqlite3
from contextlib import contextmanager

from webapp import demo

from .conftest import csrf_from, log_in
from .test_import_web import upload

FULL = "The server&#39;s disk is full, so nothing was saved."


@contextmanager
def file_size_limit(limit: int):
    """Writes past ``limit`` bytes fail with a real EFBIG, as on a full disk (ENOSPC)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills us
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


async def test_an_upload_that_does_not_fit_leaves_no_partial_file_and_answers_503(
    app, client, settings
):
    token = await log_in(client, "bob@example.com")
    data = b"title\n" + b"A book that fills the disk\n" * 80_000  # about 2 MB

    with file_size_limit(1024 * 1024):
        response = await upload(client, token, data)

    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert FULL in await response.get_data(as_text=True)
    imports = settings.database.parent / "imports"
    assert list(imports.glob("*")) == []
    health = await client.get("/healthz")
    assert health.status_code == 503
    assert (await health.get_json())["database"] == "disk full"


def cap_size(conn: sqlite3.Connection) -> None:
    """The database may not grow past the pages it has (a setting of this connection)."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def add_session(conn: sqlite3.Connection) -> None:
    conn.execute(
        "INSERT INTO Sessions (TokenHash, UserID, ExpiresAt) VALUES (?, 1, '2999-01-01T00:00:00Z')",
        (secrets.token_hex(32),),
    )


async def fill_database(db) -> None:
    """Cap the app's database at its size, then add sessions until one no longer fits."""
    await db.write(cap_size)
    for _ in range(100_000):
        try:
            await db.write(add_session)
        except sqlite3.OperationalError as error:
            assert "full" in str(error)
            return
    raise AssertionError("the database never filled up")


async def test_a_full_database_answers_503_to_a_sign_in_and_healthz_reports_it(app, client):
    assert (await client.get("/healthz")).status_code == 200
    await fill_database(app.app.extensions["shelfmark.db"])

    token = await csrf_from(client)
    response = await client.post(
        "/login",
        form={"email": "bob@example.com", "password": demo.DEMO_PASSWORD, "csrf_token": token},
    )

    assert response.status_code == 503
    assert FULL in await response.get_data(as_text=True)
    health = await client.get("/healthz")
    assert health.status_code == 503
    assert (await health.get_json())["database"] == "disk full"
