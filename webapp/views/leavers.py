"""The school year's pages, for staff: next year's class list, leavers with items out (their
letters printed or emailed), and promoting every class at once.

Each change is shown before it is made, as a plain form (no JavaScript needed):
the class list's comparison lists the pupils it would close, ticked, and only
the confirming POST closes them; the promotion page previews the renames with
their counts before the POST that applies them in one transaction.
"""

from __future__ import annotations

import asyncio

from quart import Blueprint, flash, redirect, render_template, request, url_for

from webapp import school_year
from webapp.access import Access, allow
from webapp.body_limits import accepts_upload
from webapp.clock import library_today
from webapp.importing.patrons import read_patrons_csv
from webapp.models import deactivation, leavers
from webapp.request_context import get_db, get_settings, signed_in_user

blueprint = Blueprint("leavers", __name__)

MAX_CHOSEN = 5000


def _group_argument(raw: str | None) -> str | None:
    text = (raw or "").strip()[: school_year.MAX_GROUP_LENGTH]
    return text or None


async def _leavers_page(group: str | None):
    db = get_db()
    return await render_template(
        "leavers/leavers.html",
        group=group,
        groups=await db.read(leavers.groups),
        leavers=await db.read(leavers.leavers_with_items, group),
    )


@blueprint.get("/leavers")
@allow(Access.STAFF)
async def leavers_page():
    return await _leavers_page(_group_argument(request.args.get("group")))


@blueprint.get("/leavers/letters")
@allow(Access.STAFF)
async def letters():
    group = _group_argument(request.args.get("group"))
    found = await get_db().read(leavers.leavers_with_items, group)
    library_name = get_settings().library_name
    return await render_template(
        "leavers/letters.html",
        group=group,
        letters=[(leaver, leavers.letter(leaver, library_name)) for leaver in found],
    )


@blueprint.post("/leavers/email")
@allow(Access.STAFF)
async def email_letters():
    group = _group_argument((await request.form).get("group"))
    queued, by_hand = await get_db().write(
        leavers.queue_letters,
        group=group,
        library_name=get_settings().library_name,
        actor_id=signed_in_user().user_id,
    )
    message = f"{queued} letter(s) queued in the outbox."
    if by_hand:
        message += f" {len(by_hand)} leaver(s) have no email address: print their letters."
    await flash(message, "success")
    return redirect(url_for("leavers.leavers_page", group=group), 303)


@blueprint.get("/leavers/class-list")
@allow(Access.STAFF)
async def class_list():
    return await render_template("leavers/class_list.html", missing=None, error=None)


@blueprint.post("/leavers/class-list")
@allow(Access.STAFF)
@accepts_upload
async def class_list_compare():
    upload = (await request.files).get("file")
    data = upload.read() if upload is not None else b""
    try:
        if not data:
            raise ValueError("Choose next year's class list (a CSV file) to compare.")
        _, rows = await asyncio.to_thread(read_patrons_csv, data)
    except ValueError as error:
        body = await render_template("leavers/class_list.html", missing=None, error=str(error))
        return body, 422
    emails = {row.email for row in rows if row.email}
    cards = {row.card_number for row in rows if row.card_number}
    missing = await get_db().read(leavers.missing_from_list, emails, cards)
    return await render_template(
        "leavers/class_list.html", missing=missing, error=None, rows=len(rows)
    )


@blueprint.post("/leavers/deactivate")
@allow(Access.STAFF)
async def deactivate():
    form = await request.form
    chosen = [int(raw) for raw in form.getlist("user_id")[:MAX_CHOSEN] if raw.isdecimal()]
    settings = get_settings()
    released = await get_db().write(
        deactivation.deactivate,
        user_ids=chosen,
        actor_id=signed_in_user().user_id,
        today=library_today(settings),
        library_name=settings.library_name,
        reason="not in next year's class list",
    )
    await flash(
        f"{released.patrons} account(s) closed; {released.holds} hold(s) cancelled "
        f"({released.notices} patron(s) told by email).",
        "success",
    )
    return redirect(url_for("leavers.leavers_page"), 303)


async def _promote_page(typed: dict[str, str] | None, preview, errors, status=200):
    current = await get_db().read(leavers.groups)
    body = await render_template(
        "leavers/promote.html",
        groups=current,
        typed=typed or {old: school_year.next_group(old) for old, _ in current},
        preview=preview,
        errors=errors,
    )
    return body, status


@blueprint.get("/groups/promote")
@allow(Access.STAFF)
async def promote_page():
    return await _promote_page(None, None, {})


@blueprint.post("/groups/promote")
@allow(Access.STAFF)
async def promote():
    form = await request.form
    current = await get_db().read(leavers.groups)
    names = [old for old, _ in current]
    # Each row names its group (from-N) beside the new name (to-N), so a group added
    # since the page was shown cannot shift a rename onto another group.
    typed = {
        form[f"from-{index}"]: form.get(f"to-{index}", "")
        for index in range(len(names) + 1)
        if form.get(f"from-{index}") in names
    }
    mapping, errors = school_year.check_promotion(names, typed)
    if errors:
        return await _promote_page(typed, None, errors, 422)
    if form.get("confirm") != "yes":
        counts = dict(current)
        preview = [(old, new, counts[old]) for old, new in mapping.items()]
        return await _promote_page(typed, preview, {})
    moved = await get_db().write(leavers.promote, mapping, signed_in_user().user_id)
    await flash(f"{len(mapping)} group(s) renamed; {moved} patron(s) moved.", "success")
    return redirect(url_for("leavers.promote_page"), 303)
