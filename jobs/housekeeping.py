"""Nightly housekeeping: trimming tables that would otherwise only grow.

Failed sign-ins (``LoginFailures``): throttling looks back
``login_throttle.WINDOW`` (15 minutes); a day is kept for looking into an
attack, and older rows are removed. Abandoned imports: a run whose process
died mid-publication leaves invisible books and copies that still hold their
barcodes and ISBNs; every import removes such runs as it starts, and this
step does so nightly, so they never wait long for the next import. Each step
runs on its own, at the nightly run's time, so neither a reminder run's
failure nor its lease can skip it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from webapp.clock import utc_now
from webapp.db import Database
from webapp.importing import staging
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


async def discard_abandoned_imports(db: Database) -> int:
    """Remove the rows of abandoned import runs (``staging.runs_to_discard``: their process
    died, or they were left untouched), in short transactions; returns how many runs."""
    removed = await staging.run_async(db, staging.cleanup_steps())
    log.info("housekeeping: %d abandoned import run(s) removed", len(removed))
    return len(removed)
