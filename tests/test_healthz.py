"""/healthz: 200 while the database answers and takes writes and the nightly run is on
time; 503 with the reason when the database cannot be written or the run is overdue."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from webapp.clock import parse_stamp
from webapp.health import reminders_overdue
from webapp.models import job_runs
from webapp.models.monitoring import ReminderHistory

from .server import free_port
from .unprivileged import as_another_user, make_read_only, shared_folder

LONDON = ZoneInfo("Europe/London")
TWO_AM = time_of_day(2, 0)
LAST_NIGHT = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 02:00 in London (GMT in November)


@pytest.mark.parametrize(
    ("history", "now", "missing"),
    [
        # Never run: not overdue, however late (a new library, tests, benchmarks).
        (ReminderHistory(False, None), LAST_NIGHT + timedelta(days=9), None),
        # Last night's run succeeded.
        (
            ReminderHistory(True, LAST_NIGHT + timedelta(minutes=1)),
            LAST_NIGHT + timedelta(hours=20),
            None,
        ),
        # Only the night before succeeded, but last night's may still start late (grace).
        (
            ReminderHistory(True, LAST_NIGHT - timedelta(days=1)),
            LAST_NIGHT + timedelta(hours=6),
            None,
        ),
        # ... and once the grace and an hour for the run have passed, it is overdue.
        (
            ReminderHistory(True, LAST_NIGHT - timedelta(days=1)),
            LAST_NIGHT + timedelta(hours=7, minutes=1),
            LAST_NIGHT,
        ),
        # Runs happened, none succeeded.
        (ReminderHistory(True, None), LAST_NIGHT + timedelta(hours=8), LAST_NIGHT),
    ],
)
def test_a_nightly_run_is_overdue_only_after_its_time_and_the_grace(history, now, missing):
    assert reminders_overdue(history, now, TWO_AM, LONDON) == missing


async def _record_run(app, started: datetime, status_error: str | None = None) -> None:
    db = app.app.extensions["shelfmark.db"]
    run_id = await job_runs.start_run(db, "reminders", "nightly", started.date(), started)
    await job_runs.finish_run(db, run_id, job_runs.RunCounts(), started, status_error)


async def test_a_library_whose_reminders_never_ran_is_healthy(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {
        "status": "ok",
        "database": "ok",
        "reminders": "never run",
    }


async def test_a_recent_successful_run_is_healthy(app, client):
    await _record_run(app, datetime.now(UTC) - timedelta(minutes=5))
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert (await response.get_json())["reminders"] == "ok"


async def test_no_successful_run_for_days_is_503_with_the_missing_run(app, client):
    await _record_run(app, datetime.now(UTC) - timedelta(days=3))
    await _record_run(app, datetime.now(UTC) - timedelta(days=1, hours=1), "SMTP down")
    response = await client.get("/healthz")
    assert response.status_code == 503
    body = await response.get_json()
    assert body["status"] == "unavailable" and body["reminders"] == "overdue"
    assert body["database"] == "ok"
    due = parse_stamp(body["reminders_due_at"])
    assert datetime.now(UTC) - timedelta(days=1, hours=8) < due < datetime.now(UTC)


def healthz(base_url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@contextmanager
def server_answering(database: Path, log_path: Path):
    """``shelfmark serve`` as an unprivileged user, yielded once it answers /healthz at all."""
    port = free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*as_another_user(), sys.executable, "-m", "webapp.cli", "serve", "--port", str(port)],
            env={
                **os.environ,
                "SHELFMARK_DATABASE": str(database),
                "SHELFMARK_SECRET_KEY": "test-secret",
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            try:
                healthz(base_url)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_a_database_file_the_server_cannot_write_is_503_while_searches_still_work(
    demo_database, tmp_path
):
    with shared_folder() as folder:
        database = folder / "library.sqlite3"
        shutil.copy(demo_database, database)
        if os.geteuid() == 0:
            # The folder is the server's (it creates the WAL files there), the file root's.
            os.chown(folder, 65534, 65534)
        make_read_only(database)
        with server_answering(database, tmp_path / "server.log") as base_url:
            status, body = healthz(base_url)
            assert status == 503, body
            assert body["status"] == "unavailable"
            assert "readonly database" in body["database"]
            with urllib.request.urlopen(f"{base_url}/search?q=gatsby", timeout=10) as response:
                assert "<mark>Gatsby</mark>" in response.read().decode()


def test_the_same_database_writable_is_healthy(demo_database, tmp_path):
    with shared_folder() as folder:
        database = folder / "library.sqlite3"
        shutil.copy(demo_database, database)
        if os.geteuid() == 0:
            os.chown(folder, 65534, 65534)
            os.chown(database, 65534, 65534)
        with server_answering(database, tmp_path / "server.log") as base_url:
            assert healthz(base_url) == (
                200,
                {"status": "ok", "database": "ok", "reminders": "never run"},
            )
