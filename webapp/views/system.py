"""Operational endpoints: /healthz for health checks, /metrics for Prometheus."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from quart import Blueprint, current_app

from webapp import health, metrics
from webapp.access import Access, allow
from webapp.clock import utc_stamp
from webapp.models import monitoring
from webapp.request_context import get_db, get_settings

blueprint = Blueprint("system", __name__)


def _write_probe() -> health.WriteProbe:
    return health.write_probe(current_app.extensions)


@blueprint.get("/healthz")
@allow(Access.PUBLIC)
async def healthz():
    """200 when the database answers and takes writes and the nightly run is on time;
    503 with the reason otherwise (docs/operations.md, Health)."""
    db, settings = get_db(), get_settings()
    try:
        history = await db.read(monitoring.reminder_history)
    except (sqlite3.Error, ValueError, RuntimeError) as error:
        return {"status": "unavailable", "database": type(error).__name__}, 503
    body = {"status": "ok", "database": "ok", "reminders": "ok"}
    problem = await _write_probe().problem(db)
    if problem == "busy":
        body["database"] = "busy"
    elif problem is not None:
        body.update(status="unavailable", database=problem)
    if not history.ever_ran:
        body["reminders"] = "never run"
    missing = health.reminders_overdue(
        history, datetime.now(UTC), settings.reminder_time, settings.zone
    )
    if missing is not None:
        body.update(status="unavailable", reminders="overdue", reminders_due_at=utc_stamp(missing))
    return body, 200 if body["status"] == "ok" else 503


@blueprint.get("/metrics")
@allow(Access.STAFF_OR_MONITOR)
async def prometheus_metrics():
    """Prometheus's text format; for staff, or for SHELFMARK_METRICS_ALLOW addresses."""
    text, content_type = await metrics.exposition()
    return text, 200, {"Content-Type": content_type, "Cache-Control": "no-store"}
