"""The hold shelf page, for staff: what to hand over, what to reshelve, what to fetch.

Read from ``webapp.models.hold_shelf``; the one action, setting a copy fetched
from the open shelf aside for the first patron waiting, is
``holds.set_aside_from_shelf``. A plain form posts it and is redirected back
(post, then redirect), the message kept in the session to show once.
"""

from __future__ import annotations

from quart import Blueprint, redirect, render_template, request, session, url_for

from webapp.access import Access, allow
from webapp.clock import library_today
from webapp.models import hold_shelf, holds
from webapp.models.outcome import Outcome
from webapp.models.records import MAX_BARCODE_LENGTH
from webapp.request_context import get_db, get_settings, signed_in_user

blueprint = Blueprint("holds", __name__)


async def _page(message: dict | None, status: int = 200):
    today = library_today(get_settings())
    body = await render_template(
        "holds/hold_shelf.html",
        shelf=await get_db().read(hold_shelf.hold_shelf, today),
        today=today,
        reshelve_days=hold_shelf.RESHELVE_DAYS,
        message=message,
    )
    return body, status


@blueprint.get("/desk/hold-shelf")
@allow(Access.STAFF)
async def hold_shelf_page():
    return await _page(session.pop("hold_shelf_message", None))


@blueprint.post("/desk/hold-shelf/set-aside")
@allow(Access.STAFF)
async def set_aside():
    """A copy on the pull list has been fetched: set it aside for the first patron waiting."""
    barcode = (await request.form).get("barcode", "").strip()
    if not barcode:
        outcome = Outcome("refused", "Choose a copy to set aside.")
    elif len(barcode) > MAX_BARCODE_LENGTH:
        outcome = Outcome("not_found", "No copy has that barcode.")
    else:
        settings = get_settings()
        outcome = await get_db().write(
            holds.set_aside_from_shelf,
            barcode=barcode,
            actor_id=signed_in_user().user_id,
            today=library_today(settings),
            library_name=settings.library_name,
        )
    if not outcome.ok:
        status = 404 if outcome.action == "not_found" else 422
        return await _page({"ok": False, "text": outcome.message}, status)
    session["hold_shelf_message"] = {"ok": True, "text": outcome.message}
    return redirect(url_for("holds.hold_shelf_page"), 303)
