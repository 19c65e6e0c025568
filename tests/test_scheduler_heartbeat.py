"""The scheduler's heartbeat and `shelfmark healthcheck --scheduler`, which reads it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from webapp.jobs import scheduler

from webapp.cli import main
from webapp.db import connect_sync
from webapp.models.scheduler_heartbeat import (
    MAX_AGE,
    Heartbeat,
    heartbeat_problem,
    last_beat,
    record_beat,
)

from .conftest import make_settings

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


def test_a_recent_heartbeat_is_healthy_and_an_old_or_missing_one_says_why():
    assert heartbeat_problem(Heartbeat("box:7", NOW - MAX_AGE), NOW, MAX_AGE) is None
    stale = heartbeat_problem(Heartbeat("box:7", NOW - timedelta(minutes=10)), NOW, MAX_AGE)
    assert stale is not None and "600 s ago" in stale and "box:7" in stale
    assert "never recorded" in heartbeat_problem(None, NOW, MAX_AGE)


def healthcheck(database_path, *extra: str) -> int:
    return main(["--database", str(database_path), "healthcheck", *extra])


def set_beat(database_path, moment: datetime) -> None:
    conn = connect_sync(database_path)
    with conn:
        record_beat(conn, "elsewhere:1", moment)
    conn.close()


def test_the_healthcheck_fails_with_one_line_until_the_scheduler_beats(database_path, capsys):
    assert healthcheck(database_path, "--scheduler") == 1
    assert capsys.readouterr().err.strip().count("\n") == 0
    set_beat(database_path, datetime.now(UTC) - timedelta(minutes=10))
    assert healthcheck(database_path, "--scheduler") == 1
    assert "more than 180 s" in capsys.readouterr().err
    assert healthcheck(database_path, "--scheduler", "--max-age", "3600") == 0
    set_beat(database_path, datetime.now(UTC))
    assert healthcheck(database_path, "--scheduler") == 0
    assert "elsewhere:1" in capsys.readouterr().out


def test_the_healthcheck_without_a_database_is_unhealthy_and_creates_none(tmp_path, capsys):
    missing = tmp_path / "missing.sqlite3"
    assert healthcheck(missing) == 1
    assert "no database" in capsys.readouterr().err
    assert not missing.exists()


async def test_the_scheduler_beats_as_soon_as_it_starts(db, database_path):
    running = await scheduler.start(db, make_settings(database_path))
    try:
        beat = None
        for _ in range(200):
            beat = await db.read(last_beat)
            if beat is not None:
                break
            await asyncio.sleep(0.05)
    finally:
        running.shutdown(wait=False)
    assert beat is not None and beat.holder.endswith(f":{os.getpid()}")
    assert healthcheck(database_path, "--scheduler") == 0


@pytest.fixture
def scheduler_process(database_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp.cli", "--database", str(database_path), "scheduler"],
        env={**os.environ, "SHELFMARK_SECRET_KEY": "test-secret"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)


def test_a_running_shelfmark_scheduler_passes_its_healthcheck(database_path, scheduler_process):
    command = [sys.executable, "-m", "webapp.cli", "--database", str(database_path)]
    check = [*command, "healthcheck", "--scheduler"]
    for _ in range(300):
        result = subprocess.run(check, capture_output=True, text=True)
        if result.returncode == 0 or scheduler_process.poll() is not None:
            break
        time.sleep(0.1)
    assert scheduler_process.poll() is None, scheduler_process.stderr.read()
    assert result.returncode == 0, result.stderr
    assert f":{scheduler_process.pid}" in result.stdout
