"""Staff pages for mail: the in-app mailbox and the nightly reminder run."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from quart import Blueprint, abort, current_app, redirect, render_template, request, url_for

from webapp import htmx, outbox
from webapp.access import Access, allow
from webapp.jobs import reminders as reminder_job
from webapp.leases import LeaseHeld
from webapp.models import job_runs, reminders
from webapp.reminder_stages import today_of_next_run
from webapp.request_context import get_db, get_settings

log = logging.getLogger(__name__)

blueprint = Blueprint("admin_mail", __name__, url_prefix="/admin")

PREVIEW_EMAILS = 50
# The HTML body of an email is shown as its own document, sandboxed: it may
# carry the inline styles mail clients need, but never a script or a request.
EMAIL_BODY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; sandbox"
)


@blueprint.get("/mailbox")
@allow(Access.STAFF)
async def mailbox():
    """Every message delivered in-app (no mail server configured), newest first."""
    entries = await get_db().read(outbox.mailbox)
    return await render_template(
        "admin/mailbox.html", entries=entries, smtp_host=get_settings().smtp_host
    )


@blueprint.get("/mailbox/<int:message_id>")
@allow(Access.STAFF)
async def mailbox_message(message_id: int):
    message = await get_db().read(outbox.mailbox_message, message_id)
    if message is None:
        abort(404)
    return await render_template("admin/mailbox_message.html", message=message)


@blueprint.get("/mailbox/<int:message_id>/html")
@allow(Access.STAFF)
async def mailbox_message_html(message_id: int):
    message = await get_db().read(outbox.mailbox_message, message_id)
    if message is None:
        abort(404)
    return (
        message.body_html,
        200,
        {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": EMAIL_BODY_POLICY,
        },
    )


@blueprint.get("/reminders")
@allow(Access.STAFF)
async def reminders_page():
    """Last runs, tonight's preview, failed messages and the run-now button."""
    db = get_db()
    settings = get_settings()
    now = datetime.now(UTC)
    tonight = today_of_next_run(now, settings.reminder_time, settings.zone)
    preview = await reminders.preview(db, settings, tonight, PREVIEW_EMAILS)
    return await htmx.render_page_or_fragment(
        "admin/reminders.html",
        "admin/_reminder_status.html",
        run_status=await job_runs.last_run_status(db, now),
        runs=await job_runs.recent_runs(db),
        failed=await db.read(outbox.failed_messages),
        preview=preview,
        preview_emails=preview.emails,
        tonight=tonight,
        started=request.args.get("started") == "1",
        settings=settings,
    )


@blueprint.post("/reminders/run")
@allow(Access.STAFF)
async def run_now():
    """Start a run in the background; the page shows it as running, then its counts."""
    db = get_db()
    settings = get_settings()

    async def run() -> None:
        try:
            await reminder_job.run_reminders(db, settings, trigger="manual")
        except LeaseHeld as busy:
            log.info("run now skipped: %s", busy)

    current_app.add_background_task(run)
    if htmx.is_htmx():
        return await htmx.render_fragment(
            "admin/_reminder_status.html",
            run_status=await job_runs.last_run_status(db),
            started=True,
        )
    return redirect(url_for("admin_mail.reminders_page", started=1), 303)


@blueprint.get("/reminders/by-hand")
@allow(Access.STAFF)
async def notify_by_hand():
    """A printable list of patrons without an email address who have a notice due."""
    entries = await reminders.notify_by_hand(get_db())
    return await render_template("admin/notify_by_hand.html", entries=entries)
