"""What day it is at the library, and the UTC stamps the jobs write.

Due dates and overdue checks use the library's timezone; run history, the
outbox and the leases record instants in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from webapp.config import Settings


def library_today(settings: Settings) -> date:
    return datetime.now(settings.zone).date()


def utc_now() -> datetime:
    """Now, to the second: what the jobs stamp their rows and leases with."""
    return datetime.now(UTC).replace(microsecond=0)


def utc_stamp(moment: datetime) -> str:
    """An instant as the jobs, the outbox and the leases store it: ISO 8601 in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
