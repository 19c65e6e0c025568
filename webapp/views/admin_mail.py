"""Staff pages for mail: the in-app mailbox, the nightly reminder run, and (admins) the
notices' wording and the reminder stages."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from quart import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from webapp import emails, htmx, notice_templates, outbox
from webapp.access import Access, allow
from webapp.clock import library_today
from webapp.jobs import reminders as reminder_job
from webapp.leases import LeaseHeld
from webapp.models import job_runs, reminders, wording
from webapp.models.patrons import find_patron
from webapp.notice_templates import Problem, Wording, WordingError
from webapp.reminder_stages import StagesError, parse_stages, today_of_next_run
from webapp.request_context import get_db, get_settings, signed_in_user

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
        # The preview's subjects are the built-in ones (the plan carries counts, not loans).
        edited_wording=any(
            status.edited and status.kind in ("reminder", "courtesy")
            for status in await db.read(wording.statuses)
        ),
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


# --- The notices' wording and the reminder stages (admins) --------------------------------


async def _notices_page(*, typed_stages: str | None = None, stages_error: str | None = None):
    db = get_db()
    body = await render_template(
        "admin/notices.html",
        kinds=await db.read(wording.statuses),
        stages=await db.read(wording.stages_setting),
        typed_stages=typed_stages,
        stages_error=stages_error,
        message=session.pop("notices_message", None),
    )
    return body, 422 if stages_error else 200


@blueprint.get("/notices")
@allow(Access.ADMIN)
async def notices_page():
    """Each notice, edited or built in, and the reminder stages."""
    return await _notices_page()


@blueprint.post("/notices/stages")
@allow(Access.ADMIN)
async def save_stages():
    """Store the reminder stages, checked by the rules the nightly run reads them with."""
    typed = (await request.form).get("stages", "")[:200]
    try:
        stages = parse_stages(typed)
    except StagesError as error:
        return await _notices_page(typed_stages=typed, stages_error=str(error))
    changed = await get_db().write(wording.save_stages, stages, signed_in_user().user_id)
    shown = ", ".join(str(stage) for stage in stages)
    session["notices_message"] = f"Saved: reminder stages {shown}." if changed else "No change."
    return redirect(url_for("admin_mail.notices_page"), 303)


def _kind_or_404(notice: str) -> notice_templates.NoticeKind:
    kind = notice_templates.KINDS.get(notice)
    if kind is None:
        abort(404)
    return kind


async def _draft() -> tuple[Wording, str]:
    """The draft in the form (line ends as the text has them, not as the browser sent
    them), and the patron typed for the preview."""
    form = await request.form
    subject = form.get("subject", "")[: notice_templates.MAX_SUBJECT + 1]
    body = form.get("body", "")[: notice_templates.MAX_BODY + 1].replace("\r\n", "\n")
    return Wording(subject, body), form.get("patron", "").strip()[:254]


async def _preview(kind: str, draft: Wording, patron_text: str) -> dict:
    """The draft rendered as it would be sent to the chosen patron today (or with sample
    data), or why it cannot be; nothing is saved."""
    db = get_db()
    settings = get_settings()
    patron = await db.read(find_patron, patron_text) if patron_text else None
    data = await db.read(
        wording.preview_data,
        kind,
        patron,
        library_today(settings),
        settings.library_name,
        url_for("password.invitation_link", token="example", _external=True),
    )
    problems = notice_templates.check(kind, draft.subject, draft.body)
    email = None
    if not problems:
        try:
            link = data.context.get("link")
            email = emails.edited(draft, data.context, link if isinstance(link, str) else None)
        except WordingError as error:
            problems = [Problem("body", None, str(error))]
    return {
        "email": email,
        "problems": problems,
        "patron": data.patron,
        "note": data.note,
        "patron_unknown": bool(patron_text) and patron is None,
    }


async def _editor(
    kind: notice_templates.NoticeKind,
    draft: Wording,
    patron_text: str,
    *,
    problems: list[Problem] | None = None,
    status: int = 200,
):
    current = await get_db().read(wording.current, kind.key)
    return await htmx.render_page_or_fragment(
        "admin/notice.html",
        "admin/_notice_preview.html",
        status,
        kind=kind,
        draft=draft,
        patron_text=patron_text,
        edited=current is not None,
        problems=problems or [],
        preview=await _preview(kind.key, draft, patron_text),
        message=session.pop("notices_message", None),
    )


@blueprint.get("/notices/<notice>")
@allow(Access.ADMIN)
async def notice_editor(notice: str):
    """The editor of one notice's wording, with its fields and a preview."""
    kind = _kind_or_404(notice)
    draft = await get_db().read(wording.current, kind.key) or emails.default_wording(kind.key)
    return await _editor(kind, draft, request.args.get("patron", "").strip()[:254])


@blueprint.post("/notices/<notice>")
@allow(Access.ADMIN)
async def save_notice(notice: str):
    """Save a draft that passes every check; otherwise 422 with each problem, nothing saved."""
    kind = _kind_or_404(notice)
    draft, patron_text = await _draft()
    problems = notice_templates.check(kind.key, draft.subject, draft.body)
    if problems:
        return await _editor(kind, draft, patron_text, problems=problems, status=422)
    actor_id = signed_in_user().user_id
    if draft == emails.default_wording(kind.key):
        # The built-in wording saved as it is: keep sending the built-in email (with its
        # own HTML part) rather than one made from its text.
        await get_db().write(wording.reset, kind.key, actor_id)
        session["notices_message"] = "Saved: this is the built-in wording."
    else:
        await get_db().write(wording.save, kind.key, draft, actor_id)
        session["notices_message"] = (
            "Saved. Notices queued from now on use this wording; those already queued keep theirs."
        )
    return redirect(
        url_for("admin_mail.notice_editor", notice=kind.key, patron=patron_text or None), 303
    )


@blueprint.post("/notices/<notice>/preview")
@allow(Access.ADMIN)
async def preview_notice(notice: str):
    """The draft as it would be sent, without saving: htmx asks as staff type, the Preview
    button (without JavaScript) shows the editor again with it."""
    kind = _kind_or_404(notice)
    draft, patron_text = await _draft()
    return await _editor(kind, draft, patron_text)


@blueprint.get("/notices/<notice>/reset")
@allow(Access.ADMIN)
async def confirm_reset_notice(notice: str):
    """Going back to the built-in wording asks first: this page without JavaScript."""
    kind = _kind_or_404(notice)
    return await render_template(
        "layout/confirm.html",
        confirm={
            "question": f"Go back to the built-in wording of the {kind.label.lower()}?",
            "detail": "The built-in subject and body replace the edited ones for notices "
            "queued from now on. The edited wording is kept in the notices' history, and the "
            "reset is logged in the event log.",
            "action": url_for("admin_mail.reset_notice", notice=kind.key),
            "yes": "Use the built-in wording",
            "no": "Keep the edited wording",
            "back": url_for("admin_mail.notice_editor", notice=kind.key),
        },
    )


@blueprint.post("/notices/<notice>/reset")
@allow(Access.ADMIN)
async def reset_notice(notice: str):
    kind = _kind_or_404(notice)
    if (await request.form).get("confirmed") != "yes":
        return htmx.redirect(url_for("admin_mail.confirm_reset_notice", notice=kind.key))
    changed = await get_db().write(wording.reset, kind.key, signed_in_user().user_id)
    session["notices_message"] = (
        "Back to the built-in wording." if changed else "It already had the built-in wording."
    )
    return htmx.redirect(url_for("admin_mail.notice_editor", notice=kind.key))
