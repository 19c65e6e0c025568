"""The nightly anonymisation against years of history, and the event log's one permitted change.

After a run no returned loan older than the retention period names a patron
(unless the patron chose to keep their history), the statistics a librarian
reports on read the same, the event log's integrity check passes, and a second
run changes nothing. A run killed with SIGKILL leaves each loan either as it
was or wholly anonymised, and the next run finishes the job.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from webapp.jobs.privacy import run_anonymisation

from webapp.db import Database, connect_sync
from webapp.models import privacy

from .conftest import TEST_TODAY
from .privacy_helpers import generate_history, loan_states, per_class_by_patron, statistics
from .security_helpers import table_checksums

RETENTION = 365


def set_retention(path, days: int | None) -> None:
    conn = connect_sync(path)
    conn.execute("BEGIN IMMEDIATE")
    privacy.save_retention_days(conn, days, actor_id=None)  # type: ignore[arg-type]
    conn.execute("COMMIT")
    conn.close()


@pytest.fixture
def history(database_path):
    generate_history(database_path, today=TEST_TODAY, years=3, pupils=300)
    return database_path


def test_the_job_does_nothing_until_a_retention_period_is_set(history):
    before = table_checksums(history)

    async def run():
        async with Database(history) as db:
            return await run_anonymisation(db, TEST_TODAY)

    report = asyncio.run(run())
    assert report.retention_days is None and report.done.total == 0
    assert table_checksums(history) == before


async def test_anonymising_years_of_history_keeps_statistics_and_the_log_sound(history):
    conn = connect_sync(history)
    stats_before = statistics(conn)
    # With nobody promoted yet, the snapshot agrees with the patrons' own rows.
    assert per_class_by_patron(conn) == stats_before["per_class"]
    keepers = {row[0] for row in conn.execute("SELECT UserID FROM Users WHERE KeepHistory = 1")}
    old_loans = conn.execute(
        "SELECT count(*) FROM Loans WHERE ReturnedAt < ?",
        ((TEST_TODAY - timedelta(days=RETENTION)).isoformat(),),
    ).fetchone()[0]
    assert old_loans > 5000, "the history should span years"
    assert privacy.event_log_problems(conn) == []
    conn.close()
    set_retention(history, RETENTION)

    async with Database(history) as db:
        report = await run_anonymisation(db, TEST_TODAY, batch_size=700)
    assert report.done.loans > 5000 and report.done.holds > 100 and report.done.events > 10000
    assert report.done.messages > 0 and report.done.notices > 0

    conn = connect_sync(history)
    cutoff = (TEST_TODAY - timedelta(days=RETENTION)).isoformat()
    named = conn.execute(
        "SELECT DISTINCT UserID FROM Loans WHERE ReturnedAt < ? AND UserID IS NOT NULL", (cutoff,)
    ).fetchall()
    assert {row[0] for row in named} <= keepers and keepers
    assert (
        conn.execute(
            "SELECT count(*) FROM Loans WHERE ReturnedAt >= ? AND UserID IS NULL", (cutoff,)
        ).fetchone()[0]
        == 0
    ), "recent loans keep their borrower"
    assert (
        conn.execute(
            "SELECT count(*) FROM Loans WHERE ReturnedAt IS NULL AND UserID IS NULL"
        ).fetchone()[0]
        == 0
    )
    # Nothing else names the patron of an anonymised loan: not its events, not a
    # reminder notice, not the email that carried it.
    assert (
        conn.execute(
            "SELECT count(*) FROM Events e JOIN Loans l USING (LoanID) "
            "WHERE l.UserID IS NULL AND (e.UserID IS NOT NULL OR e.Kind = 'override' AND e.Detail IS NOT NULL)"
        ).fetchone()[0]
        == 0
    )
    assert (
        conn.execute(
            "SELECT count(*) FROM Notices n JOIN Loans l USING (LoanID) WHERE l.UserID IS NULL"
        ).fetchone()[0]
        == 0
    )
    assert (
        conn.execute(
            "SELECT count(*) FROM Outbox o JOIN Users u USING (UserID) "
            "WHERE o.CreatedAt < ? AND u.KeepHistory = 0",
            (cutoff,),
        ).fetchone()[0]
        == 0
    )
    # A pupil who renewed online was the actor of their own renewal: that goes too.
    assert (
        conn.execute(
            "SELECT count(*) FROM Events e JOIN Loans l USING (LoanID) "
            "WHERE l.UserID IS NULL AND e.Kind = 'renew' AND e.ActorID IS NOT NULL"
        ).fetchone()[0]
        == 0
    )
    assert statistics(conn) == stats_before
    assert privacy.event_log_problems(conn) == []
    redactions = conn.execute("SELECT count(*) FROM Events WHERE Kind = 'redaction'").fetchone()[0]
    assert redactions >= report.done.loans // 700
    conn.close()

    checksums = table_checksums(history)
    async with Database(history) as db:
        again = await run_anonymisation(db, TEST_TODAY)
    assert again.done.total == 0
    assert table_checksums(history) == checksums


def test_the_event_log_refuses_every_change_but_a_logged_redaction(history):
    conn = connect_sync(history)
    event_id, user_id = conn.execute(
        "SELECT EventID, UserID FROM Events WHERE Kind = 'lend' LIMIT 1"
    ).fetchone()
    attempts = [
        ("UPDATE Events SET Kind = 'return' WHERE EventID = ?", (event_id,)),
        ("UPDATE Events SET UserID = ? WHERE EventID = ?", (user_id + 1, event_id)),
        # Removing the patron without naming a logged redaction:
        ("UPDATE Events SET UserID = NULL WHERE EventID = ?", (event_id,)),
        # ... or naming an event that is not one:
        ("UPDATE Events SET UserID = NULL, RedactedBy = ? WHERE EventID = ?", (event_id, event_id)),
        ("DELETE FROM Events WHERE EventID = ?", (event_id,)),
    ]
    for sql, params in attempts:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(sql, params)
    conn.execute("BEGIN")
    conn.execute("INSERT INTO Events (Kind, Detail) VALUES ('redaction', 'by hand')")
    redaction = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
    conn.execute(
        "UPDATE Events SET UserID = NULL, RedactedBy = ? WHERE EventID = ?", (redaction, event_id)
    )
    # A redacted event cannot be changed again, not even redacted twice.
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE Events SET Detail = 'x' WHERE EventID = ?", (event_id,))
    conn.execute("ROLLBACK")
    # A loan's borrower is only ever removed, and only once the loan is returned.
    open_loan = conn.execute("SELECT LoanID FROM Loans WHERE ReturnedAt IS NULL").fetchone()[0]
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE Loans SET UserID = NULL WHERE LoanID = ?", (open_loan,))
    with pytest.raises(sqlite3.IntegrityError, match="only be removed"):
        conn.execute("UPDATE Loans SET UserID = ? WHERE LoanID = ?", (user_id, open_loan))
    conn.close()


def test_the_integrity_check_finds_a_redaction_done_behind_its_back(history):
    conn = connect_sync(history)
    conn.execute("DROP TRIGGER Events_AppendOnlyNoUpdate")
    conn.execute(
        "UPDATE Events SET UserID = NULL "
        "WHERE EventID = (SELECT min(EventID) FROM Events WHERE Kind = 'lend')"
    )
    problems = privacy.event_log_problems(conn)
    conn.close()
    assert "trigger Events_AppendOnlyNoUpdate is missing" in problems
    assert "1 events lost the borrower of their loan without a redaction" in problems


def run_job(path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "webapp.cli",
            "--database",
            str(path),
            "anonymise",
            "--date",
            TEST_TODAY.isoformat(),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_job_killed_mid_run_leaves_each_loan_old_or_new_and_the_rerun_finishes(database_path):
    generate_history(database_path, today=TEST_TODAY, years=6, pupils=600, loans_per_day=60)
    set_retention(database_path, RETENTION)
    conn = connect_sync(database_path)
    before = loan_states(conn)
    stats_before = statistics(conn)
    conn.close()

    doomed = run_job(database_path)
    watcher = connect_sync(database_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and doomed.poll() is None:
            done = watcher.execute(
                "SELECT count(*) FROM Loans WHERE AnonymisedAt IS NOT NULL"
            ).fetchone()[0]
            if done:
                break
            time.sleep(0.01)
        assert doomed.poll() is None, "the job finished before it could be killed: more history"
        doomed.kill()
        doomed.wait(30)
    finally:
        watcher.close()

    conn = connect_sync(database_path)
    after = loan_states(conn)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert privacy.event_log_problems(conn) == []
    assert statistics(conn) == stats_before
    conn.close()
    old = new = 0
    for loan_id, (user_id, anonymised, named, has_notices) in after.items():
        was_user, _, was_named, had_notices = before[loan_id]
        if not anonymised:
            assert (user_id, named, has_notices) == (was_user, was_named, had_notices)
            old += 1
        else:
            assert user_id is None and named <= {None} and not has_notices
            new += 1
    assert old and new, (old, new)

    rerun = run_job(database_path)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert "Anonymised" in out
    conn = connect_sync(database_path)
    cutoff = (TEST_TODAY - timedelta(days=RETENTION)).isoformat()
    assert (
        conn.execute(
            "SELECT count(*) FROM Loans l JOIN Users u USING (UserID) "
            "WHERE l.ReturnedAt < ? AND u.KeepHistory = 0",
            (cutoff,),
        ).fetchone()[0]
        == 0
    )
    assert privacy.event_log_problems(conn) == []
    assert statistics(conn) == stats_before
    conn.close()
