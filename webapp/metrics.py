"""Prometheus metrics: the request hooks that count, and what /metrics reports.

Counters and histograms are kept in memory by prometheus-client. With several
Hypercorn workers each is its own process, so ``shelfmark serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a folder before they start: every worker then
writes its counts to files there and a scrape, answered by any one worker, adds
them all up. What the database knows (outbox, reminder runs, file size) is read
when /metrics is scraped, never counted.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from quart import g, request

from webapp import health, htmx, request_context
from webapp.clock import parse_stamp
from webapp.models import job_runs, monitoring

MULTIPROCESS_FOLDER = "PROMETHEUS_MULTIPROC_DIR"
# What generate_latest writes: Prometheus's classic text format, which every
# Prometheus version reads (prometheus-client's own server answers a scraper
# that asks for nothing else with this type too).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUEST_SECONDS = Histogram(
    "shelfmark_request_duration_seconds",
    "Time from receiving a request to answering it, by route (endpoint) and status class.",
    ["route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DESK_OPERATIONS = Counter(
    "shelfmark_desk_operations_total",
    "Desk actions by staff, by operation and outcome.",
    ["operation", "outcome"],
)
SEARCHES = Counter(
    "shelfmark_searches_total",
    "Catalogue searches (with a query) answered, as a page or as results while typing.",
    ["answer"],
)

DESK_ENDPOINTS = {
    "circulation.desk_scan": "scan",
    "circulation.desk_renew": "renew",
    "circulation.desk_undo": "undo",
    "circulation.desk_hold": "hold",
    "circulation.desk_done": "done",
}
SEARCH_ENDPOINT = "catalogue.search"
REMINDER_RUN_STATES = ("running", "succeeded", "failed")


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def desk_outcome(status: int) -> str:
    """What a desk answer's status says: done (200), refused (422 and other 4xx), error (5xx);
    a plain form is answered with a redirect whose page shows the outcome ("form")."""
    if status >= 500:
        return "error"
    if status >= 400:
        return "refused"
    if status >= 300:
        return "form"
    return "done"


async def start_timer() -> None:
    """First before_request hook: when the request arrived."""
    g.metrics_started = time.perf_counter()


async def count_response(response):
    """after_request hook: the request's latency, and a desk action or a search."""
    started = g.get("metrics_started")
    endpoint = request.endpoint or "unmatched"
    if started is not None:
        REQUEST_SECONDS.labels(endpoint, status_class(response.status_code)).observe(
            time.perf_counter() - started
        )
    user = g.get("user")
    if endpoint in DESK_ENDPOINTS and user is not None and user.is_staff:
        DESK_OPERATIONS.labels(DESK_ENDPOINTS[endpoint], desk_outcome(response.status_code)).inc()
    elif (
        endpoint == SEARCH_ENDPOINT
        and response.status_code < 400
        and request.args.get("q", "").strip()
    ):
        SEARCHES.labels("fragment" if htmx.is_htmx() else "page").inc()
    return response


@contextmanager
def shared_between_workers(workers: int) -> Iterator[None]:
    """Give Hypercorn's workers a folder for their counts, if they are several.

    A ``PROMETHEUS_MULTIPROC_DIR`` already set is used, emptied first: files
    left by the workers of an earlier start would otherwise be added in again.
    Without one, a temporary folder serves for as long as the server runs.
    """
    given = os.environ.get(MULTIPROCESS_FOLDER)
    if given:
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        yield
        return
    if workers == 1:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="shelfmark-metrics-") as folder:
        os.environ[MULTIPROCESS_FOLDER] = folder
        try:
            yield
        finally:
            del os.environ[MULTIPROCESS_FOLDER]


def _request_metrics() -> bytes:
    if MULTIPROCESS_FOLDER in os.environ:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


class _DatabaseState:
    """A collector for one scrape, holding what was read from the database for it."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self._families = families

    def collect(self) -> list[GaugeMetricFamily]:
        return self._families


def _timestamp(moment: datetime | str) -> float:
    if isinstance(moment, str):
        moment = parse_stamp(moment)
    return moment.timestamp()


async def _database_state() -> list[GaugeMetricFamily]:
    db, settings = request_context.get_db(), request_context.get_settings()
    outbox = await db.read(monitoring.outbox_counts)
    history = await db.read(monitoring.reminder_history)
    runs = await job_runs.recent_runs(db, limit=1)
    sizes = await asyncio.to_thread(monitoring.database_bytes, db.path)
    families = []

    messages = GaugeMetricFamily(
        "shelfmark_outbox_messages",
        "Emails in the outbox waiting to be sent (pending), being sent, or given up on (failed).",
        labels=["status"],
    )
    for state, count in outbox.items():
        messages.add_metric([state], count)
    families.append(messages)

    last_run = runs[0] if runs else None
    run_state = GaugeMetricFamily(
        "shelfmark_reminder_last_run_status",
        "1 for the state of the last reminder run (running, succeeded, failed); none if never run.",
        labels=["status"],
    )
    finished = GaugeMetricFamily(
        "shelfmark_reminder_last_run_finished_timestamp_seconds",
        "When the last reminder run finished (Unix time); absent while it runs or if none has.",
    )
    counts = GaugeMetricFamily(
        "shelfmark_reminder_last_run_loans_and_messages",
        "The last reminder run's counts: overdue loans flagged, emails queued, sent, "
        "left pending and failed.",
        labels=["count"],
    )
    if last_run is not None:
        for state in REMINDER_RUN_STATES:
            run_state.add_metric([state], 1 if last_run.status == state else 0)
        if last_run.finished_at:
            finished.add_metric([], _timestamp(last_run.finished_at))
        for name in ("flagged", "queued", "sent", "pending", "failed"):
            counts.add_metric([name], getattr(last_run.counts, name))
    families += [run_state, finished, counts]

    success = GaugeMetricFamily(
        "shelfmark_reminder_last_success_timestamp_seconds",
        "When the last successful reminder run started (Unix time).",
    )
    if history.last_success_at is not None:
        success.add_metric([], _timestamp(history.last_success_at))
    overdue = GaugeMetricFamily(
        "shelfmark_reminder_overdue",
        "1 when a nightly reminder run is missing (the same rule as /healthz), else 0.",
    )
    missing = health.reminders_overdue(
        history, datetime.now(UTC), settings.reminder_time, settings.zone
    )
    overdue.add_metric([], 0 if missing is None else 1)
    families += [success, overdue]

    size = GaugeMetricFamily(
        "shelfmark_database_size_bytes",
        "Size on disk of the SQLite database file (main) and its write-ahead log (wal).",
        labels=["file"],
    )
    for part, size_bytes in sizes.items():
        size.add_metric([part], size_bytes)
    families.append(size)
    return families


async def exposition() -> tuple[bytes, str]:
    """The text /metrics answers, and its content type."""
    state = CollectorRegistry()
    state.register(_DatabaseState(await _database_state()))
    return _request_metrics() + generate_latest(state), CONTENT_TYPE
