"""The nightly anonymisation: returned loans and closed holds older than the retention period
lose their borrower (``webapp.models.privacy``). Orchestration only.

Each batch is its own short transaction on the writer, so the desk is never
kept waiting by years of history, and a run killed part way leaves every loan
either untouched or fully anonymised: the next run simply carries on. Running
twice changes nothing the second time. With no retention period set (the
default) the run does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from webapp.clock import utc_now, utc_stamp
from webapp.db import Database
from webapp.models import privacy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnonymisationReport:
    retention_days: int | None
    before: date | None
    done: privacy.Redacted


async def run_anonymisation(
    db: Database,
    today: date,
    *,
    clock: Callable[[], datetime] = utc_now,
    batch_size: int = privacy.BATCH_SIZE,
) -> AnonymisationReport:
    """Anonymise everything due as of ``today`` (the library's date), batch by batch."""
    days = await db.read(privacy.retention_days)
    if days is None:
        return AnonymisationReport(None, None, privacy.Redacted())
    before = privacy.cutoff(today, days)
    done = privacy.Redacted()
    while True:
        batch = await db.write(
            privacy.anonymise_batch, before=before, now=utc_stamp(clock()), limit=batch_size
        )
        if not batch.total:
            break
        done += batch
    if done.total:
        log.info(
            "anonymisation for %s (loans returned before %s): %d loans, %d holds, %d events, "
            "%d notices, %d messages",
            today,
            before,
            done.loans,
            done.holds,
            done.events,
            done.notices,
            done.messages,
        )
    return AnonymisationReport(days, before, done)
