"""The librarians' home page."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, request

from webapp import htmx
from webapp.access import Access, allow
from webapp.charts import activity_chart
from webapp.clock import library_today
from webapp.models import dashboard as model
from webapp.models import job_runs
from webapp.request_context import get_db, get_settings

blueprint = Blueprint("dashboard", __name__)


@blueprint.get("/dashboard")
@allow(Access.STAFF)
async def dashboard():
    """Counts, the overdue list (``?sort=days|patron|title``), activity and this term's favourites.

    On an htmx request (the overdue list's sort links) only the overdue list is sent.
    """
    db = get_db()
    settings = get_settings()
    today = library_today(settings)
    sort = request.args.get("sort", "days")
    if sort not in model.OVERDUE_SORTS:
        sort = "days"
    overdue = await model.overdue_loans(db, today, sort)
    counts = await model.counts(db, today)
    context: dict[str, Any] = {"overdue": overdue, "sort": sort, "counts": counts, "today": today}
    if not htmx.is_htmx():
        activity = await model.daily_activity(db, today, settings.zone)
        since = model.term_start(today)
        context.update(
            activity=activity,
            chart=activity_chart(activity),
            term_start=since,
            favourites=await model.most_borrowed_since(db, since),
            run_status=await job_runs.last_run_status(db),
        )
    return await htmx.render_page_or_fragment(
        "dashboard/dashboard.html", "dashboard/_overdue.html", **context
    )
