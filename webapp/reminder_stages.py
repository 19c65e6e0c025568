"""Reminder stages: which notice a loan is due tonight. Pure functions, no I/O.

A stage is a number of days relative to the due date: ``-2`` is a courtesy
notice two days before it, ``1``, ``7`` and ``21`` are overdue notices. A loan
"reaches" every stage at or below its days overdue; it is sent only the latest
stage it has reached, so a night that was missed never turns into a burst of
every stage skipped, and once a later stage has gone out an earlier one never
does (the ledger is keyed by due date, so a renewal starts afresh).

Which night is "tonight" is here too: the library date of the nightly run,
which the scheduler runs and the staff preview shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_STAGES = (-2, 1, 7, 21)
MAX_STAGES = 10


class StagesError(ValueError):
    """A reminder stage setting that cannot be used."""


def parse_stages(raw: str | None) -> tuple[int, ...]:
    """Stages from the ``reminder_stages`` setting, e.g. ``'-2,1,7,21'``.

    An empty or missing setting means the defaults. Zero is refused: a notice
    on the due date itself is neither a courtesy nor an overdue notice.
    """
    if raw is None or not raw.strip():
        return DEFAULT_STAGES
    try:
        stages = sorted({int(part) for part in raw.split(",") if part.strip()})
    except ValueError:
        raise StagesError(
            f"reminder stages must be whole numbers separated by commas, not {raw!r}"
        ) from None
    if not stages or len(stages) > MAX_STAGES:
        raise StagesError(f"give between 1 and {MAX_STAGES} reminder stages")
    if 0 in stages:
        raise StagesError("a stage of 0 days is neither before nor after the due date")
    if stages[0] < -30 or stages[-1] > 365:
        raise StagesError("stages run from 30 days before the due date to 365 days after it")
    return tuple(stages)


def days_from_due(due: date, today: date) -> int:
    """Days from the due date to ``today``, the scale stages use: negative before it, 0 on it.

    Not ``rules.days_overdue``, which counts only days late (never below 0).
    """
    return (today - due).days


def earliest_due_date_with_a_stage(stages: Iterable[int], today: date) -> date:
    """Loans due after this date have reached no stage yet (the query bound)."""
    return date.fromordinal(today.toordinal() - min(stages))


def stage_for(stages: Iterable[int], overdue_by: int, latest_sent: int | None) -> int | None:
    """The stage to send for a loan ``overdue_by`` days past due, or None.

    ``latest_sent`` is the highest stage in the ledger for the current due date
    (None when there is none). The nightly run calls this from its SQL, once
    per open loan, so the rule lives here alone.
    """
    reached = [stage for stage in stages if stage <= overdue_by]
    if not reached:
        return None
    latest = max(reached)
    if latest_sent is not None and latest_sent >= latest:
        return None
    return latest


def stage_heading(stage: int) -> str:
    """How an email introduces the items at ``stage``."""
    if stage < 0:
        return "Due back soon"
    return f"Overdue by {stage} day{'s' if stage != 1 else ''} or more"


# How late the scheduler may still start a nightly run it missed (a busy or
# restarting machine); /healthz calls a run overdue only after this grace.
MISFIRE_GRACE = timedelta(hours=6)


def last_scheduled_run(now: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The most recent moment the nightly run was due, at or before ``now``."""
    local = now.astimezone(zone)
    due = datetime.combine(local.date(), at, tzinfo=zone)
    if due > local:
        due = datetime.combine(local.date() - timedelta(days=1), at, tzinfo=zone)
    return due.astimezone(UTC)


def today_of_next_run(now: datetime, at: time, zone: ZoneInfo) -> date:
    """The library date the next nightly run will use (what a preview should show)."""
    return (last_scheduled_run(now, at, zone) + timedelta(days=1)).astimezone(zone).date()
