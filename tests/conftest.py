"""Shared fixtures: a real SQLite file per test, the real app, real helpers to log in."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from bench import generate as bench_generate
from webapp import create_app, demo
from webapp.config import Settings
from webapp.db import Database, connect_sync, migrate
from webapp.resources import MIGRATIONS

REPO = Path(__file__).resolve().parent.parent
# Beside the checkout, or a level higher for a worktree (bench.generate finds it).
GOODBOOKS_CSV = bench_generate.GOODBOOKS_CSV
TEST_TODAY = date(2026, 11, 29)


@pytest.fixture
def database_path(tmp_path: Path) -> Path:
    path = tmp_path / "shelfmark.sqlite3"
    conn = connect_sync(path)
    migrate(conn, MIGRATIONS)
    conn.close()
    return path


@pytest.fixture
def demo_database(database_path: Path) -> Path:
    """A database holding the teaching records and a small generated library."""
    conn = connect_sync(database_path)
    demo.load(conn, books=60, patrons=20, seed=7, today=TEST_TODAY, show_progress=False)
    conn.close()
    return database_path


@pytest.fixture
async def db(database_path: Path):
    async with Database(database_path) as database:
        yield database


# Tests never reach the internet: the ISBN lookup and cover fetching are off unless a
# test points them at its local stand-in (tests/fake_book_services.py).
NO_BOOK_SERVICES = {"openlibrary_url": "", "openlibrary_covers_url": ""}


def make_settings(path: Path, **overrides) -> Settings:
    return Settings(database=path, secret_key="test-secret", **{**NO_BOOK_SERVICES, **overrides})


@pytest.fixture
def settings(demo_database: Path) -> Settings:
    return make_settings(demo_database)


@pytest.fixture
async def app(settings: Settings):
    application = create_app(settings)
    async with application.test_app() as test_app:
        yield test_app


@pytest.fixture
def client(app):
    return app.test_client()


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


async def csrf_from(client, path: str = "/login") -> str:
    """The CSRF token the page at ``path`` gives this client's session."""
    response = await client.get(path)
    match = CSRF_META.search(await response.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


async def log_in(client, email: str, password: str = demo.DEMO_PASSWORD) -> str:
    """Sign in through the real login form; returns the session's CSRF token."""
    token = await csrf_from(client)
    response = await client.post(
        "/login", form={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302, await response.get_data(as_text=True)
    return await csrf_from(client, "/search")


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """The demo database of ``demo_database``, built once per test session."""
    path = tmp_path_factory.mktemp("demo-template") / "shelfmark.sqlite3"
    conn = connect_sync(path)
    migrate(conn, MIGRATIONS)
    demo.load(conn, books=60, patrons=20, seed=7, today=TEST_TODAY, show_progress=False)
    conn.close()
    return path


@pytest.fixture
def demo_copy(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the session's demo database: the same data as ``demo_database``,
    without paying for generating it (and hashing its passwords) in every test."""
    path = tmp_path / "shelfmark.sqlite3"
    shutil.copyfile(demo_template, path)
    return path
