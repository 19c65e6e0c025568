"""The sign-in throttling policy (webapp/login_throttle.py), on its own and as the reservation
in the database applies it, with a clock the test sets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from webapp import login_throttle
from webapp.db import connect_sync
from webapp.login_throttle import address_pause, seconds_to_wait
from webapp.models.accounts import LoginRefusal, forget_failures, reserve_attempt

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


def reserve(conn, email: str, address: str, now: datetime):
    conn.execute("BEGIN IMMEDIATE")
    try:
        return reserve_attempt(conn, email, address, now)
    finally:
        conn.execute("COMMIT")


def test_each_reservation_counts_at_once_so_the_sixth_attempt_is_refused(conn):
    reserved = [reserve(conn, "bob@example.com", "10.0.0.1", NOW) for _ in range(5)]
    assert all(isinstance(attempt, int) for attempt in reserved)
    refused = reserve(conn, "bob@example.com", "10.0.0.1", NOW)
    assert isinstance(refused, LoginRefusal)
    assert refused.retry_after_seconds == 15 * 60
    assert "Please wait 15 minutes" in refused.message
    # A refused attempt is not recorded, so hammering does not make the wait longer.
    assert conn.execute("SELECT count(*) FROM LoginFailures").fetchone()[0] == 5
    # The same account from another address, and another account from this one, may try.
    assert isinstance(reserve(conn, "bob@example.com", "10.0.0.2", NOW), int)
    assert isinstance(reserve(conn, "alice@example.com", "10.0.0.1", NOW), int)


def test_emails_differing_only_in_case_are_one_account(conn):
    for _ in range(5):
        reserve(conn, "Bob@Example.com", "10.0.0.1", NOW)
    assert isinstance(reserve(conn, "bob@example.com", "10.0.0.1", NOW), LoginRefusal)


def test_the_right_password_forgets_that_pair_only(conn):
    for address in ("10.0.0.1", "10.0.0.2"):
        for _ in range(4):
            reserve(conn, "bob@example.com", address, NOW)
    forget_failures(conn, "bob@example.com", "10.0.0.1")
    left = conn.execute("SELECT Address, count(*) FROM LoginFailures GROUP BY Address").fetchall()
    assert [tuple(row) for row in left] == [("10.0.0.2", 4)]


def test_a_busy_address_is_paused_for_seconds_then_lets_the_next_attempt_through(conn):
    for pupil in range(login_throttle.ADDRESS_SOFT_LIMIT):
        assert isinstance(reserve(conn, f"pupil{pupil}@example.com", "10.0.0.9", NOW), int)
    paused = reserve(conn, "alice@example.com", "10.0.0.9", NOW)
    assert isinstance(paused, LoginRefusal)
    assert paused.retry_after_seconds == 1
    assert "Please wait 1 second and" in paused.message
    assert isinstance(
        reserve(conn, "alice@example.com", "10.0.0.9", NOW + timedelta(seconds=1)), int
    )
    # Other addresses are not paused at all.
    assert isinstance(reserve(conn, "alice@example.com", "10.0.0.10", NOW), int)
