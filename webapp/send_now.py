"""Send the outbox now, in the background, when a message must not wait for the sweep.

A password reset or an invitation is queued through the outbox like any other
email (``webapp.outbox``: marked ``sending`` before the server sees a byte, so
each goes out exactly once); the scheduler's sweep would deliver it within
five minutes, too late for someone waiting at the sign-in page. ``SendNow.wake``
starts one background delivery under the same ``mail`` lease as the nightly
run and the sweep, so it never sends at the same time as they do. When
another run holds the lease it tries again every ``RETRY_EVERY`` (the holder
may have read its list of messages before ours was queued), for up to
``GIVE_UP_AFTER``; after that the sweep sends it. Wakes that arrive during a
delivery make it run once more at the end, so nothing queued meanwhile waits.

No Quart here: the app keeps one ``SendNow`` per process on ``app.extensions``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

from webapp import outbox
from webapp.clock import utc_now
from webapp.config import Settings
from webapp.db import Database
from webapp.leases import Lease, LeaseHeld
from webapp.mail import transport_for

log = logging.getLogger(__name__)

# The lease of every sender: jobs/reminders.py's nightly run and sweep take it too.
LEASE = "mail"
RETRY_EVERY = 0.5
GIVE_UP_AFTER = 120.0


class SendNow:
    """One background delivery at a time for this process, started by ``wake``."""

    def __init__(
        self, db: Database, settings: Settings, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._closing = False

    def wake(self) -> None:
        """Deliver what the outbox holds soon; returns at once."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                await self._deliver()
            except Exception:
                log.exception("sending the outbox now failed; the sweep will retry")
            if not self._again:
                return

    async def _deliver(self) -> None:
        give_up_at = time.monotonic() + GIVE_UP_AFTER
        lease = Lease(self._db, LEASE, self._clock)
        while True:
            try:
                await lease.acquire()
                break
            except LeaseHeld:
                if self._closing or time.monotonic() > give_up_at:
                    log.info("the mail lease stayed taken; the outbox sweep will send the rest")
                    return
                await asyncio.sleep(RETRY_EVERY)
        try:
            delivery = await outbox.deliver(
                self._db,
                self._settings,
                transport_for(self._settings),
                respect_backoff=True,
                keep_lease=lease.keep,
                clock=self._clock,
            )
            if delivery.error:
                log.warning("mail server unavailable, left for the sweep: %s", delivery.error)
        finally:
            await lease.release()

    async def close(self) -> None:
        """Stop waiting for the lease, and let a delivery under way end (at shutdown), so no
        message is cut mid-send."""
        self._closing = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
