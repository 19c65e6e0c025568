"""Real `run-reminders` processes: two at once, and one killed with SIGKILL mid-send."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta

import pytest

from .reminder_helpers import Library, SmtpServer

TODAY = date(2026, 11, 29)
PATRONS = 6
LEASE_HELD_EXIT = 75


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def six_overdue_patrons(database_path):
    library = Library(database_path)
    for n in range(PATRONS):
        patron = library.patron(f"Patron {n}", f"patron{n}@example.org")
        library.loan(patron, f"Book {n}", TODAY - timedelta(days=1))
    yield library
    library.close()


def start_run(database_path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "SHELFMARK_SMTP_HOST": "127.0.0.1",
        "SHELFMARK_SMTP_PORT": str(port),
        "SHELFMARK_SMTP_TIMEOUT": "10",
        "SHELFMARK_SECRET_KEY": "test-secret",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "webapp.cli",
            "--database",
            str(database_path),
            "run-reminders",
            "--date",
            TODAY.isoformat(),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_each_patron_got_exactly_one(smtp: SmtpServer, library: Library) -> None:
    received = smtp.handler.messages()
    assert sorted(m["To"] for m in received) == sorted(
        f"patron{n}@example.org" for n in range(PATRONS)
    )
    queued = {row["HeaderMessageID"] for row in library.outbox()}
    assert len(queued) == PATRONS
    assert sorted(smtp.handler.message_ids()) == sorted(queued)
    assert {row["Status"] for row in library.outbox()} == {"sent"}


def test_a_second_process_refuses_while_the_first_is_sending(
    database_path, smtp, six_overdue_patrons
):
    smtp.handler.hold_at = 2
    first = start_run(database_path, smtp.port)
    assert smtp.handler.holding.wait(30), first.communicate(timeout=5)

    second = start_run(database_path, smtp.port)
    _, second_err = second.communicate(timeout=30)
    smtp.handler.release.set()
    first_out, first_err = first.communicate(timeout=30)

    assert second.returncode == LEASE_HELD_EXIT, second_err
    assert "another run holds the lease" in second_err
    assert first.returncode == 0, first_err
    assert_each_patron_got_exactly_one(smtp, six_overdue_patrons)


def test_two_processes_started_together_send_each_message_once(
    database_path, smtp, six_overdue_patrons
):
    runs = [start_run(database_path, smtp.port) for _ in range(2)]
    results = [(run.communicate(timeout=60), run.returncode) for run in runs]

    assert sorted(code for _, code in results) in ([0, 0], [0, LEASE_HELD_EXIT]), results
    assert_each_patron_got_exactly_one(smtp, six_overdue_patrons)


def test_a_run_killed_mid_send_and_rerun_delivers_each_notice_exactly_once(
    database_path, smtp, six_overdue_patrons
):
    # The server holds the 3rd message's DATA, before answering it: the process
    # dies while that message is on the wire, not yet accepted.
    smtp.handler.hold_at = 3
    doomed = start_run(database_path, smtp.port)
    assert smtp.handler.holding.wait(30), doomed.communicate(timeout=5)
    doomed.kill()
    doomed.wait(timeout=30)
    assert len(smtp.handler.messages()) == 2
    statuses = [row["Status"] for row in six_overdue_patrons.outbox()]
    assert statuses == ["sent", "sent", "sending", "pending", "pending", "pending"]

    rerun = start_run(database_path, smtp.port)
    out, err = rerun.communicate(timeout=60)

    assert rerun.returncode == 0, err
    assert_each_patron_got_exactly_one(smtp, six_overdue_patrons)
    interrupted = six_overdue_patrons.conn.execute(
        "SELECT Status, Error FROM JobRuns ORDER BY RunID"
    ).fetchall()
    assert interrupted[0]["Status"] == "failed" and "interrupted" in interrupted[0]["Error"]
    assert interrupted[1]["Status"] == "succeeded"


def test_a_dry_run_shows_what_would_be_sent_and_changes_nothing(
    database_path, smtp, six_overdue_patrons, monkeypatch, capsys
):
    from webapp.cli import main

    monkeypatch.setenv("SHELFMARK_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SHELFMARK_SMTP_PORT", str(smtp.port))

    code = main(
        [
            "--database",
            str(database_path),
            "run-reminders",
            "--dry-run",
            "--date",
            TODAY.isoformat(),
        ]
    )

    assert code == 0
    out = capsys.readouterr().out
    assert f"would queue {PATRONS} emails" in out and "patron0@example.org" in out
    assert smtp.handler.messages() == []
    assert six_overdue_patrons.outbox() == []
    assert six_overdue_patrons.conn.execute("SELECT count(*) FROM JobRuns").fetchone()[0] == 0
