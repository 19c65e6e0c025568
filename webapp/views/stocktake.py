"""Stocktakes, for staff: start one, scan the shelves into it, watch its progress, close it
and act on its report (docs/stocktake.md).

Scans come from static/shelfmark.js's scan queue, the desk's own (each taken on Enter,
sent in order, one at a time): htmx-style requests answered with the scan's message and
the count so far (``stocktake/_scan_update.html``). A plain form post is redirected to
the stocktake's page, which shows the message once. Refusals change nothing and answer
with the reason: 404 for no such stocktake, 409 for one closed (or not yet), 422 for a
scan the page did not send. The progress table is the stocktake page's fragment, which
the page polls while the stocktake is open.
"""

from __future__ import annotations

from quart import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from webapp import htmx
from webapp import stocktake_rules as rules
from webapp.access import Access, allow
from webapp.clock import library_today
from webapp.exporting import BOM, csv_line
from webapp.models import stocktake
from webapp.request_context import get_db, get_settings, signed_in_user

blueprint = Blueprint("stocktake", __name__)

MAX_CODE_LENGTH = 254
# A report section lists this many lines on the page; the CSV export has them all.
REPORT_LINES_SHOWN = 500
STATUS = {stocktake.NOT_FOUND: 404, stocktake.CONFLICT: 409, stocktake.REFUSED: 422}
# The scanner's answers kept for a plain form post, shown once by the next page.
MESSAGE_KEY = "stocktake_message"
SHELF_KEY = "stocktake_shelf"


async def _stocktake_or_404(stocktake_id: int) -> stocktake.Stocktake:
    found = await get_db().read(stocktake.get, stocktake_id)
    if found is None:
        abort(404)
    return found


@blueprint.get("/stocktakes")
@allow(Access.STAFF)
async def stocktakes_page():
    return await _list_page({}, {}, 200)


async def _list_page(errors: dict[str, str], typed: dict, status: int):
    db = get_db()
    body = await render_template(
        "stocktake/stocktakes.html",
        stocktakes=await db.read(stocktake.all_stocktakes),
        locations=await db.read(stocktake.locations),
        errors=errors,
        typed=typed,
    )
    return body, status


@blueprint.post("/stocktakes")
@allow(Access.STAFF)
async def start_stocktake():
    form = await request.form
    name, name_error = rules.check_name(form.get("name", ""))
    whole_library = form.get("scope", "whole") == "whole"
    chosen = form.getlist("location")
    existing = [location for location, _ in await get_db().read(stocktake.locations)]
    scope, scope_error = rules.check_scope(whole_library, chosen, existing)
    errors = {
        field: error for field, error in (("name", name_error), ("scope", scope_error)) if error
    }
    if errors:
        typed = {"name": name, "scope": "whole" if whole_library else "locations", "chosen": chosen}
        return await _list_page(errors, typed, 422)
    stocktake_id = await get_db().write(
        stocktake.start, name=name, scope=scope, actor_id=signed_in_user().user_id
    )
    await flash(f"Stocktake “{name}” started: scan the shelves.", "success")
    return redirect(url_for("stocktake.stocktake_page", stocktake_id=stocktake_id), 303)


@blueprint.get("/stocktakes/<int:stocktake_id>")
@allow(Access.STAFF)
async def stocktake_page(stocktake_id: int):
    """The scan page, or on htmx its progress table (which the page polls)."""
    found = await _stocktake_or_404(stocktake_id)
    db = get_db()
    progress = await db.read(stocktake.progress, found)
    message = session.pop(MESSAGE_KEY, None) if not htmx.is_htmx() else None
    return await htmx.render_page_or_fragment(
        "stocktake/stocktake.html",
        "stocktake/_progress.html",
        stocktake=found,
        stocktake_id=stocktake_id,
        progress=progress,
        message=message,
        counted=found.counted,
        shelves=[location for location, _ in await db.read(stocktake.locations)],
        shelf=session.get(SHELF_KEY, {}).get(str(stocktake_id), ""),
    )


def _message(
    ok: bool, text: str, kind: str, offer: str | None = None, barcode: str | None = None
) -> dict:
    """The scan log's message in plain values: kept in the session for a plain form."""
    return {"ok": ok, "text": text, "kind": kind, "offer": offer, "barcode": barcode}


async def _scan_answer(stocktake_id: int, message: dict, counted: int | None, status: int):
    if htmx.is_htmx():
        return await htmx.render_fragment(
            "stocktake/_scan_update.html",
            status,
            message=message,
            counted=counted,
            stocktake_id=stocktake_id,
        )
    if status == 404:
        return await htmx.render_error(404, message["text"])
    session[MESSAGE_KEY] = message
    return redirect(url_for("stocktake.stocktake_page", stocktake_id=stocktake_id), 303)


def _refusal(stocktake_id: int, text: str, status: int = 422):
    return _scan_answer(stocktake_id, _message(False, text, "refused"), None, status)


@blueprint.post("/stocktakes/<int:stocktake_id>/scan")
@allow(Access.STAFF)
async def scan(stocktake_id: int):
    """One scan: a copy barcode (or an unknown code) counted once in the stocktake.

    ``shelf`` is the location the scanner says they are at (empty: not said).
    """
    form = await request.form
    code = form.get("code", "").strip()
    shelf = form.get("shelf", "").strip()
    if len(shelf) > rules.MAX_LOCATION_LENGTH:
        return await _refusal(stocktake_id, "That scan was not sent by the stocktake page.")
    if not code:
        return await _refusal(stocktake_id, "Scan a copy barcode first.")
    if len(code) > MAX_CODE_LENGTH:
        return await _refusal(stocktake_id, "That is too long to be a barcode.")
    answer = await get_db().write(
        stocktake.scan,
        stocktake_id=stocktake_id,
        code=code,
        shelf=shelf or None,
        actor_id=signed_in_user().user_id,
    )
    status = STATUS[answer.problem] if answer.problem else 200
    if answer.ok and session.get(SHELF_KEY, {}).get(str(stocktake_id), "") != shelf:
        # The page offers the same shelf next time (a plain form reloads it). Writing the
        # session re-signs and re-sends the cookie: only when the shelf changes.
        session[SHELF_KEY] = {str(stocktake_id): shelf}
    message = _message(answer.ok, answer.message, answer.result, answer.offer, answer.barcode)
    return await _scan_answer(stocktake_id, message, answer.counted if answer.ok else None, status)


@blueprint.post("/stocktakes/<int:stocktake_id>/check-in")
@allow(Access.STAFF)
async def check_in(stocktake_id: int):
    """Check in a copy found on the shelf while on loan, or return a found copy to stock."""
    code = (await request.form).get("code", "").strip()
    if not code or len(code) > MAX_CODE_LENGTH:
        return await _refusal(stocktake_id, "Choose a copy this stocktake scanned.")
    settings = get_settings()
    answer = await get_db().write(
        stocktake.check_in,
        stocktake_id=stocktake_id,
        code=code,
        actor_id=signed_in_user().user_id,
        today=library_today(settings),
        library_name=settings.library_name,
    )
    status = STATUS[answer.problem] if answer.problem else 200
    kind = "checked_in" if answer.ok else "refused"
    return await _scan_answer(stocktake_id, _message(answer.ok, answer.message, kind), None, status)


@blueprint.get("/stocktakes/<int:stocktake_id>/close")
@allow(Access.STAFF)
async def confirm_close(stocktake_id: int):
    """Closing asks first: this page without JavaScript, a dialog with it."""
    found = await _stocktake_or_404(stocktake_id)
    return await render_template(
        "layout/confirm.html",
        confirm={
            "question": f"Close the stocktake “{found.name}”?",
            "detail": "Nothing more can be scanned into it. The copies expected and not "
            "scanned (and not on loan) are kept as its missing list.",
            "action": url_for("stocktake.close", stocktake_id=stocktake_id),
            "yes": "Close the stocktake",
            "no": "Keep scanning",
            "back": url_for("stocktake.stocktake_page", stocktake_id=stocktake_id),
        },
    )


async def _done(answer: stocktake.Answer, stocktake_id: int):
    """After closing or marking lost: the report, with the answer as a message; a refusal
    is the error page (or for htmx the message alone) with its status."""
    if answer.problem is not None:
        return await htmx.render_error(STATUS[answer.problem], answer.message)
    await flash(answer.message, "success")
    return htmx.redirect(url_for("stocktake.report", stocktake_id=stocktake_id))


@blueprint.post("/stocktakes/<int:stocktake_id>/close")
@allow(Access.STAFF)
async def close(stocktake_id: int):
    if (await request.form).get("confirmed") != "yes":
        return htmx.redirect(url_for("stocktake.confirm_close", stocktake_id=stocktake_id))
    answer = await get_db().write(
        stocktake.close, stocktake_id=stocktake_id, actor_id=signed_in_user().user_id
    )
    return await _done(answer, stocktake_id)


@blueprint.get("/stocktakes/<int:stocktake_id>/report")
@allow(Access.STAFF)
async def report(stocktake_id: int):
    found = await get_db().read(stocktake.report, stocktake_id)
    if found is None:
        abort(404)
    return await render_template("stocktake/report.html", report=found, shown=REPORT_LINES_SHOWN)


@blueprint.get("/stocktakes/<int:stocktake_id>/report.csv")
@allow(Access.STAFF)
async def report_csv(stocktake_id: int):
    found = await get_db().read(stocktake.report, stocktake_id)
    if found is None:
        abort(404)
    text = BOM + csv_line(stocktake.CSV_COLUMNS)
    text += "".join(csv_line(row) for row in stocktake.report_rows(found))
    return Response(
        text,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="stocktake-{stocktake_id}.csv"',
            "Cache-Control": "no-store",
        },
    )


@blueprint.get("/stocktakes/<int:stocktake_id>/mark-lost")
@allow(Access.STAFF)
async def confirm_mark_lost(stocktake_id: int):
    found = await get_db().read(stocktake.report, stocktake_id)
    if found is None:
        abort(404)
    return await render_template(
        "layout/confirm.html",
        confirm={
            "question": f"Mark the {len(found.missing)} missing copies lost?",
            "detail": f"Every copy the stocktake “{found.stocktake.name}” found missing is "
            "recorded as lost, each in its event log. A copy that turns up later is returned "
            "to stock by scanning it at the desk.",
            "action": url_for("stocktake.mark_lost", stocktake_id=stocktake_id),
            "yes": "Mark them lost",
            "no": "Not now",
            "back": url_for("stocktake.report", stocktake_id=stocktake_id),
        },
    )


@blueprint.post("/stocktakes/<int:stocktake_id>/mark-lost")
@allow(Access.STAFF)
async def mark_lost(stocktake_id: int):
    if (await request.form).get("confirmed") != "yes":
        return htmx.redirect(url_for("stocktake.confirm_mark_lost", stocktake_id=stocktake_id))
    answer = await get_db().write(
        stocktake.mark_missing_lost, stocktake_id=stocktake_id, actor_id=signed_in_user().user_id
    )
    return await _done(answer, stocktake_id)
