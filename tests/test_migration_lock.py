"""Processes migrating one new database at once (web and scheduler restarted together)
all succeed: the later ones wait for the first's migrations, then find nothing to do.

Before the lock, one of them failed with "table Users already exists" (both read
version 0, then both applied 0001) or "database is locked" (both switched the new
file to WAL at the same moment)."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time

import pytest

from webapp.db import migration_files
from webapp.resources import MIGRATIONS

LATEST = migration_files(MIGRATIONS)[-1][0]


# The processes load everything first, then wait for the same signal (a file
# appearing) before running the command: interpreter start-up takes longer and
# varies more than the migrations themselves, so without it they rarely overlap.
READY_THEN_RUN = """
import os, sys, time
from webapp.cli import main
go = sys.argv[1]
open(f"{go}.ready.{os.getpid()}", "w").close()
while not os.path.exists(go):
    time.sleep(0.0005)
sys.exit(main(sys.argv[2:]))
"""


def _start(go, database, command: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", READY_THEN_RUN, str(go), "--database", str(database), command],
        env={**os.environ, "SHELFMARK_SECRET_KEY": "test-secret"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("attempt", range(5))
def test_init_db_started_three_times_at_once_on_an_empty_file_always_succeeds(tmp_path, attempt):
    database, go = tmp_path / "new.sqlite3", tmp_path / "go"
    processes = [_start(go, database, "init-db") for _ in range(3)]
    while len(list(tmp_path.glob("go.ready.*"))) < len(processes):  # all loaded and waiting
        assert all(process.poll() is None for process in processes)
        time.sleep(0.01)
    go.touch()
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    # Each migration was applied by exactly one of them (they may share the work out:
    # one applies 1, another, having waited for it, applies the rest).
    applied = [
        int(number)
        for out, _ in outputs
        for found in re.findall(r"applied migrations ([\d, ]+);", out)
        for number in found.split(",")
    ]
    assert sorted(applied) == list(range(1, LATEST + 1)), outputs
    conn = sqlite3.connect(database)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'Users'").fetchone()[0]
    conn.close()
