"""What day it is at the library: due dates and overdue checks use the library's timezone."""

from __future__ import annotations

from datetime import date, datetime

from webapp.config import Settings


def library_today(settings: Settings) -> date:
    return datetime.now(settings.zone).date()
