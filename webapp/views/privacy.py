"""A patron's data: the retention setting (admins), erasure (staff), and "Download my data".

The SQL and the rules are in ``webapp.models.privacy``; what this module adds
is the pages: the settings page shows what tonight's run would do, the erasure
page shows exactly what deleting a patron will do before the button that does
it (a plain form, so it works without JavaScript), and the downloads write the
same data as JSON or as a ZIP of CSV files, one per section.
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile

from quart import Blueprint, abort, flash, redirect, render_template, request, session, url_for

from webapp.access import Access, allow
from webapp.clock import library_today, utc_now, utc_stamp
from webapp.exporting import BOM, csv_line
from webapp.models import privacy
from webapp.request_context import get_db, get_settings, signed_in_user

blueprint = Blueprint("privacy", __name__)


async def _settings_page(*, error: str | None = None, typed: str | None = None, status=200):
    db = get_db()
    days = await db.read(privacy.retention_days)
    today = library_today(get_settings())
    shown = days if days is not None else privacy.RECOMMENDED_RETENTION_DAYS
    before = privacy.cutoff(today, shown)
    body = await render_template(
        "admin/privacy.html",
        days=days,
        typed=typed,
        error=error,
        recommended=privacy.RECOMMENDED_RETENTION_DAYS,
        lowest=privacy.MIN_RETENTION_DAYS,
        highest=privacy.MAX_RETENTION_DAYS,
        before=before,
        pending=await db.read(privacy.pending, before),
        problems=await db.read(privacy.event_log_problems),
        message=session.pop("privacy_message", None),
    )
    return body, status


@blueprint.get("/admin/privacy")
@allow(Access.ADMIN)
async def settings_page():
    return await _settings_page()


@blueprint.post("/admin/privacy")
@allow(Access.ADMIN)
async def settings_save():
    typed = (await request.form).get("retention_days", "")[:20]
    days, error = privacy.check_retention_days(typed)
    if error:
        return await _settings_page(error=error, typed=typed, status=422)
    changed = await get_db().write(
        privacy.save_retention_days, days, actor_id=signed_in_user().user_id
    )
    session["privacy_message"] = (
        (
            "Saved: "
            + (
                f"loans keep their borrower for {days} days."
                if days
                else "every loan keeps its borrower."
            )
        )
        if changed
        else "Nothing changed."
    )
    return redirect(url_for("privacy.settings_page"), 303)


@blueprint.post("/account/privacy")
@allow(Access.LOGGED_IN)
async def keep_history():
    keep = (await request.form).get("keep_history") == "on"
    await get_db().write(privacy.set_keep_history, signed_in_user().user_id, keep)
    await flash(
        "Your reading history will be kept until you change this."
        if keep
        else "Your reading history now follows the library's retention period.",
        "success",
    )
    return redirect(url_for("circulation.account"), 303)


def _json_answer(data: dict, user_id: int):
    body = json.dumps(data, indent=2, ensure_ascii=False)
    return (
        body,
        200,
        {
            "Content-Type": "application/json; charset=utf-8",
            "Content-Disposition": f'attachment; filename="shelfmark-data-{user_id}.json"',
        },
    )


def _zip_of_csvs(data: dict[str, list[dict]]) -> bytes:
    """One CSV per section (a spreadsheet opens each), in a ZIP; built in a thread."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for section in privacy.DATA_SECTIONS:
            rows = data[section]
            columns = list(rows[0]) if rows else []
            text = BOM + csv_line(columns) + "".join(csv_line(row.values()) for row in rows)
            archive.writestr(f"{section}.csv", text)
    return buffer.getvalue()


async def _zip_answer(data: dict, user_id: int):
    body = await asyncio.to_thread(_zip_of_csvs, data)
    return (
        body,
        200,
        {
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="shelfmark-data-{user_id}.zip"',
        },
    )


async def _data_of(user_id: int) -> dict:
    data = await get_db().read(privacy.patron_data, user_id)
    if data is None:
        abort(404)
    return data


@blueprint.get("/account/data.json")
@allow(Access.LOGGED_IN)
async def my_data_json():
    user_id = signed_in_user().user_id
    return _json_answer(await _data_of(user_id), user_id)


@blueprint.get("/account/data.zip")
@allow(Access.LOGGED_IN)
async def my_data_csv():
    user_id = signed_in_user().user_id
    return await _zip_answer(await _data_of(user_id), user_id)


@blueprint.get("/patrons/<int:user_id>/data.json")
@allow(Access.STAFF)
async def patron_data_json(user_id: int):
    return _json_answer(await _data_of(user_id), user_id)


@blueprint.get("/patrons/<int:user_id>/data.zip")
@allow(Access.STAFF)
async def patron_data_csv(user_id: int):
    return await _zip_answer(await _data_of(user_id), user_id)


@blueprint.get("/patrons/<int:user_id>/erase")
@allow(Access.STAFF)
async def erase_page(user_id: int):
    plan = await get_db().read(privacy.erasure_plan, user_id)
    if plan is None:
        abort(404)
    body = await render_template("collection/erase_patron.html", plan=plan)
    return body, 409 if plan.refusal else 200


@blueprint.post("/patrons/<int:user_id>/erase")
@allow(Access.STAFF)
async def erase(user_id: int):
    settings = get_settings()
    plan = await get_db().write(
        privacy.erase_patron,
        user_id=user_id,
        actor_id=signed_in_user().user_id,
        today=library_today(settings),
        now=utc_stamp(utc_now()),
        library_name=settings.library_name,
    )
    if plan is None:
        abort(404)
    if plan.refusal:
        body = await render_template("collection/erase_patron.html", plan=plan)
        return body, 409
    await flash(
        f"{plan.patron.name}'s account was deleted: {plan.returned_loans} loans and "
        f"{plan.active_holds + plan.closed_holds} holds no longer name them.",
        "success",
    )
    return redirect(url_for("collection.patrons"), 303)
