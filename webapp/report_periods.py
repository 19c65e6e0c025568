"""The period a report covers, read from the reports page's GET parameters: pure.

A period is two library dates, both included: loans are dated by the library's
day (Loans.LoanDate is the day at the desk, in SHELFMARK_TIMEZONE), so a loan
made at 23:30 on the last day belongs to the period whatever the UTC clock said.
Without dates a report covers this school year so far: from 1 September (the
latest on or before today) to today. Callers pass "today"; nothing here reads a
clock or a database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

# The school year starts on this (month, day), as the dashboard's autumn term does.
SCHOOL_YEAR_STARTS = (9, 1)
# A longer period is refused: its month-by-month table would be unreadable.
MAX_PERIOD_YEARS = 10
DEFAULT_WEEDING_YEARS = 3
MAX_WEEDING_YEARS = 50
# Only the ISO form a date field sends (or a person types): 2026-09-01.
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Period:
    """From ``start`` to ``end``, both days included."""

    start: date
    end: date

    def months(self) -> list[date]:
        """The first day of every month the period touches, in order."""
        months = []
        year, month = self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            months.append(date(year, month, 1))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months


def school_year_start(today: date) -> date:
    """1 September of the school year ``today`` is in."""
    month, day = SCHOOL_YEAR_STARTS
    this_year = date(today.year, month, day)
    return this_year if this_year <= today else date(today.year - 1, month, day)


def default_period(today: date) -> Period:
    """This school year so far."""
    return Period(school_year_start(today), today)


def _parse_date(raw: str) -> date | None:
    text = raw.strip()
    if not _ISO_DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def years_before(day: date, years: int) -> date:
    """The same day ``years`` earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def parse_period(
    raw_start: str | None, raw_end: str | None, today: date
) -> tuple[Period, dict[str, str]]:
    """The period asked for, or the default one and the errors by field ("from", "to").

    A blank field takes the default's end: from the school year's start, to today.
    """
    default = default_period(today)
    errors: dict[str, str] = {}
    start, end = default.start, default.end
    if raw_start and raw_start.strip():
        parsed = _parse_date(raw_start)
        if parsed is None:
            errors["from"] = "Enter the first day as a date, like 2026-09-01."
        else:
            start = parsed
    if raw_end and raw_end.strip():
        parsed = _parse_date(raw_end)
        if parsed is None:
            errors["to"] = "Enter the last day as a date, like 2027-07-20."
        else:
            end = parsed
    if not errors:
        if end < start:
            errors["to"] = "The last day is before the first day: swap them, or choose again."
        elif start < years_before(end, MAX_PERIOD_YEARS):
            errors["to"] = f"Choose a period of at most {MAX_PERIOD_YEARS} years."
    if errors:
        return default, errors
    return Period(start, end), errors


def parse_years(raw: str | None) -> tuple[int, str | None]:
    """The weeding list's "not lent in N years", or the default and why the text is refused."""
    text = (raw or "").strip()
    if not text:
        return DEFAULT_WEEDING_YEARS, None
    if text.isascii() and text.isdecimal() and 1 <= int(text) <= MAX_WEEDING_YEARS:
        return int(text), None
    return DEFAULT_WEEDING_YEARS, f"Enter a number of years from 1 to {MAX_WEEDING_YEARS}."


def new_year_offset(zone: ZoneInfo, year: int) -> str:
    """The UTC offset at midnight on 1 January in the library's zone, as an SQLite date
    modifier ('+3600 seconds'): it moves a UTC stamp to the library's year, so a copy
    added at 00:30 on New Year's Day, local time, counts in the new year."""
    offset = zone.utcoffset(datetime(year, 1, 1))
    seconds = int(offset.total_seconds()) if offset is not None else 0
    return f"{seconds:+d} seconds"


def month_label(month: date) -> str:
    return f"{month:%b %Y}"
