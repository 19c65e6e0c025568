"""The sign-in throttling policy (webapp/login_throttle.py), on its own and as the reservation
in the database applies it, with a clock the test sets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from webapp import login_throttle
from webapp.db import connect_sync
from webapp.login_throttle import address_pause, must_wait_for_checks, seconds_to_wait
from webapp.models.accounts import (
    LoginRefusal,
    forget_failures,
    record_failure,
    reserve_attempt,
)

NOW = datetime(2026, 12, 2, 11, 0, 0, tzinfo=UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def test_an_address_pauses_a_second_from_twenty_failures_doubling_every_ten_up_to_a_minute():
    assert [address_pause(n).total_seconds() for n in (0, 19, 20, 29, 30, 40, 50, 70, 80, 500)] == [
        0,
        0,
        1,
        1,
        2,
        4,
        8,
        32,
        60,
        60,
    ]


def test_five_failures_for_one_account_from_one_address_wait_until_the_oldest_is_a_window_old():
    four = [ago(60 * minutes) for minutes in (1, 2, 3, 4)]
    assert seconds_to_wait(four, four, NOW) == 0
    five = [*four, ago(5 * 60)]
    assert seconds_to_wait(five, five, NOW) == (15 - 5) * 60
    assert seconds_to_wait(five, five, NOW + timedelta(minutes=10)) == 0


def test_the_address_pause_counts_from_its_latest_failure():
    failures = [ago(0.5)] + [ago(100 + n) for n in range(29)]
    assert seconds_to_wait([], failures, NOW) == 2
    assert seconds_to_wait([], failures, NOW + timedelta(seconds=2)) == 0


@pytest.fixture
def conn(database_path):
    connection = connect_sync(database_path)
    yield connection
    connection.close()


def in_transaction(conn, function, *args):
    conn.execute("BEGIN IMMEDIATE")
    try:
        return function(conn, *args)
    finally:
        conn.execute("COMMIT")


def reserve(conn, email: str, address: str, now: datetime = NOW):
    return in_transaction(conn, reserve_attempt, email, address, now)


def fail(conn, email: str, address: str, now: datetime = NOW) -> int:
    """An attempt whose password proved wrong."""
    attempt = reserve(conn, email, address, now)
    assert isinstance(attempt, int), attempt
    in_transaction(conn, record_failure, attempt)
    return attempt


def test_five_checks_of_one_account_at_once_make_the_sixth_wait_and_then_be_refused(conn):
    checking = [reserve(conn, "bob@example.com", "10.0.0.1") for _ in range(5)]
    assert all(isinstance(attempt, int) for attempt in checking)
    # Five checks running: the sixth waits for them (they may all fail)...
    assert reserve(conn, "bob@example.com", "10.0.0.1") is None
    # ...and once they failed it is refused for the rest of the window.
    for attempt in checking:
        in_transaction(conn, record_failure, attempt)
    refused = reserve(conn, "bob@example.com", "10.0.0.1")
    assert isinstance(refused, LoginRefusal)
    assert refused.retry_after_seconds == 15 * 60
    assert "Please wait 15 minutes" in refused.message
    # A refused attempt is not recorded, so hammering does not make the wait longer.
    assert conn.execute("SELECT count(*) FROM LoginFailures").fetchone()[0] == 5
    # The same account from another address, and another account from this one, may try.
    assert isinstance(reserve(conn, "bob@example.com", "10.0.0.2"), int)
    assert isinstance(reserve(conn, "alice@example.com", "10.0.0.1"), int)


def test_checks_that_succeed_let_the_waiting_attempts_go(conn):
    checking = [reserve(conn, "bob@example.com", "10.0.0.1") for _ in range(5)]
    assert reserve(conn, "bob@example.com", "10.0.0.1") is None
    for attempt in checking:
        in_transaction(conn, forget_failures, attempt, "bob@example.com", "10.0.0.1")
    assert isinstance(reserve(conn, "bob@example.com", "10.0.0.1"), int)


def test_a_check_that_never_finished_counts_as_a_failure(conn):
    for _ in range(5):
        reserve(conn, "bob@example.com", "10.0.0.1", NOW - timedelta(minutes=2))
    assert isinstance(reserve(conn, "bob@example.com", "10.0.0.1"), LoginRefusal)


def test_emails_differing_only_in_case_are_one_account(conn):
    for _ in range(5):
        fail(conn, "Bob@Example.com", "10.0.0.1")
    assert isinstance(reserve(conn, "bob@example.com", "10.0.0.1"), LoginRefusal)


def test_the_right_password_forgets_that_pair_only_and_no_other_check(conn):
    for address in ("10.0.0.1", "10.0.0.2"):
        for _ in range(3):
            fail(conn, "bob@example.com", address)
    other_check = reserve(conn, "bob@example.com", "10.0.0.1")
    right = reserve(conn, "bob@example.com", "10.0.0.1")
    in_transaction(conn, forget_failures, right, "bob@example.com", "10.0.0.1")
    left = conn.execute(
        "SELECT Address, FailureID, Checking FROM LoginFailures ORDER BY Address, FailureID"
    ).fetchall()
    assert [tuple(row)[::2] for row in left] == [("10.0.0.1", 1)] + [("10.0.0.2", 0)] * 3
    assert left[0]["FailureID"] == other_check


def test_a_busy_address_is_paused_for_seconds_then_lets_the_next_attempt_through(conn):
    for pupil in range(login_throttle.ADDRESS_SOFT_LIMIT):
        fail(conn, f"pupil{pupil}@example.com", "10.0.0.9")
    paused = reserve(conn, "alice@example.com", "10.0.0.9")
    assert isinstance(paused, LoginRefusal)
    assert paused.retry_after_seconds == 1
    assert "Please wait 1 second and" in paused.message
    assert isinstance(
        reserve(conn, "alice@example.com", "10.0.0.9", NOW + timedelta(seconds=1)), int
    )
    # Other addresses are not paused at all.
    assert isinstance(reserve(conn, "alice@example.com", "10.0.0.10"), int)


def test_simultaneous_sign_ins_behind_one_address_wait_for_each_other_only_near_the_limit(conn):
    checking = [reserve(conn, f"pupil{n}@example.com", "10.0.0.9") for n in range(19)]
    assert all(isinstance(attempt, int) for attempt in checking)
    assert isinstance(reserve(conn, "pupil19@example.com", "10.0.0.9"), int)
    # Twenty checks running: were they all wrong, the address would pause; so wait.
    assert reserve(conn, "alice@example.com", "10.0.0.9") is None
    for number, attempt in enumerate(checking):
        in_transaction(conn, forget_failures, attempt, f"pupil{number}@example.com", "10.0.0.9")
    assert isinstance(reserve(conn, "alice@example.com", "10.0.0.9"), int)


def test_an_attempt_waits_for_checks_only_if_their_failing_would_cross_a_limit():
    assert not must_wait_for_checks(0, 4, 0, 4)
    assert must_wait_for_checks(0, 5, 0, 5)
    assert must_wait_for_checks(3, 2, 3, 2)
    assert not must_wait_for_checks(5, 0, 5, 0)  # refused by seconds_to_wait instead
    assert not must_wait_for_checks(0, 1, 18, 1)
    assert must_wait_for_checks(0, 1, 19, 1)
