"""Nightly housekeeping: trimming tables that would otherwise only grow.

One step so far: failed sign-ins (``LoginFailures``). Throttling looks back
``login_throttle.WINDOW`` (15 minutes); a day is kept for looking into an
attack, and older rows are removed. The step runs on its own, at the nightly
run's time, so neither a reminder run's failure nor its lease can skip it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from webapp.clock import utc_now
from webapp.db import Database
from webapp.models import accounts

log = logging.getLogger(__name__)

LOGIN_FAILURES_KEPT = timedelta(days=1)


async def prune_login_failures(db: Database, now: datetime | None = None) -> int:
    """Remove failed sign-ins older than ``LOGIN_FAILURES_KEPT``; returns how many."""
    removed = await db.write(
        accounts.prune_login_failures, (now or utc_now()) - LOGIN_FAILURES_KEPT
    )
    log.info("housekeeping: %d failed sign-in(s) older than a day removed", removed)
    return removed
