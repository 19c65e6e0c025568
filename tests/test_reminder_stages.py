"""The reminder rules, without a server: stages, overdue days, catch-up, warnings."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from webapp.jobs.scheduler import needs_catch_up

from webapp.mail import header_safe, valid_address
from webapp.models.job_runs import JobRun, RunCounts, status_warning
from webapp.outbox import retry_delay
from webapp.reminder_stages import (
    DEFAULT_STAGES,
    StagesError,
    days_from_due,
    last_scheduled_run,
    parse_stages,
    stage_for,
    today_of_next_run,
)

DUE = date(2026, 11, 20)


def on(days_after_due: int) -> date:
    return DUE + timedelta(days=days_after_due)


def test_stages_count_days_from_the_due_date_negative_before_it():
    assert days_from_due(DUE, DUE) == 0
    assert days_from_due(DUE, on(1)) == 1
    assert days_from_due(DUE, on(-3)) == -3


@pytest.mark.parametrize(
    "today_offset, sent, expected",
    [
        (-3, (), None),  # too early for the courtesy notice
        (-2, (), -2),  # courtesy two days before
        (0, (-2,), None),  # due today: courtesy already sent, nothing more
        (0, (), -2),  # a missed courtesy night is still a courtesy notice
        (1, (-2,), 1),  # first overdue notice
        (6, (-2, 1), None),  # between stages
        (7, (-2, 1), 7),
        (30, (-2, 1), 21),  # nights missed: only the latest stage, never a burst
        (30, (-2, 1, 7, 21), None),
        (8, (21,), None),  # a later stage sent means earlier ones never go out
    ],
)
def test_each_loan_gets_only_the_latest_stage_it_has_reached_and_not_been_sent(
    today_offset, sent, expected
):
    latest_sent = max(sent) if sent else None
    assert stage_for(DEFAULT_STAGES, days_from_due(DUE, on(today_offset)), latest_sent) == expected


def test_stages_come_from_the_setting_and_bad_settings_are_refused():
    assert parse_stages("21, 1,-2,7") == (-2, 1, 7, 21)
    assert parse_stages("") == DEFAULT_STAGES
    assert parse_stages(None) == DEFAULT_STAGES
    for bad in ("1,x", "0,3", "-40", "1,2,3,4,5,6,7,8,9,10,11", "400"):
        with pytest.raises(StagesError):
            parse_stages(bad)


def test_catch_up_is_needed_when_no_run_succeeded_since_last_nights_slot():
    london = ZoneInfo("Europe/London")
    at = time(2, 0)
    now = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    assert last_scheduled_run(now, at, london) == datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    assert needs_catch_up(None, now, at, london)
    assert needs_catch_up(datetime(2026, 11, 28, 2, 0, tzinfo=UTC), now, at, london)
    assert not needs_catch_up(datetime(2026, 11, 29, 2, 0, 5, tzinfo=UTC), now, at, london)
    before_slot = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
    assert not needs_catch_up(datetime(2026, 11, 28, 2, 0, 5, tzinfo=UTC), before_slot, at, london)
    assert today_of_next_run(now, at, london) == date(2026, 11, 30)
    assert today_of_next_run(before_slot, at, london) == date(2026, 11, 29)


def _run(status: str, error: str | None = None) -> JobRun:
    return JobRun(
        1,
        "nightly",
        "2026-11-29",
        "2026-11-29T02:00:00Z",
        "2026-11-29T02:01:00Z",
        status,
        RunCounts(),
        error,
    )


def test_the_dashboard_warns_when_the_last_success_is_old_or_the_last_run_failed():
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    recent = now - timedelta(hours=10)
    assert status_warning(_run("succeeded"), recent, now) is None
    assert "30 hours ago" in status_warning(_run("succeeded"), now - timedelta(hours=30), now)
    assert "failed: mail server down" in status_warning(
        _run("failed", "mail server down"), recent, now
    )
    assert "never run" in status_warning(None, None, now)


def test_retries_back_off_up_to_six_hours():
    assert [retry_delay(n) for n in (1, 2, 3)] == [timedelta(minutes=m) for m in (5, 10, 20)]
    assert retry_delay(30) == timedelta(hours=6)


def test_header_values_cannot_carry_extra_headers():
    assert (
        header_safe("Overdue\r\nBcc: everyone@example.com") == "Overdue Bcc: everyone@example.com"
    )
    assert valid_address("ann@example.org")
    for bad in (
        "ann@example.org\r\nBcc: x@y.z",
        "Ann <ann@example.org>",
        "no-at-sign",
        "a@b@c",
        "",
    ):
        assert not valid_address(bad)
