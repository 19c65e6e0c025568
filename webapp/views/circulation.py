"""The circulation desk, My account, holds, the patron and copy pages, and the printed slips.

Every action is a POST. htmx gets the fragments back (the desk's patron panel
plus its message in the aria-live region, or the account fragment); a plain
form gets a 303 redirect to the page, with the message kept in the session to
show once. Refusals change nothing and answer 422 with the reason. The desk's
scans are sent by static/shelfmark.js's scan queue, one at a time, with the
same fragments: it moves the message into the scan log and swaps the rest.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from quart import Blueprint, abort, flash, redirect, render_template, request, session, url_for

from webapp import htmx, rules
from webapp.access import Access, allow
from webapp.clock import library_today, utc_now
from webapp.models import (
    catalogue,
    credentials,
    events,
    hold_shelf,
    holds,
    loans,
    privacy,
    receipts,
    records,
    undo,
)
from webapp.models.outcome import Outcome
from webapp.models.patrons import get_patron
from webapp.request_context import (
    get_catalogue_words,
    get_db,
    get_search_cache,
    get_settings,
    signed_in_user,
)
from webapp.search_query import parse as parse_query
from webapp.templating import short_date

blueprint = Blueprint("circulation", __name__)

DESK_MODES = {
    "auto": "Lend or return",
    "lend": "Lend only",
    "return": "Return only",
}
MAX_CODE_LENGTH = 254
# The hold box's title search: the longest text searched, and the titles listed.
MAX_HOLD_SEARCH = 200
HOLD_SEARCH_RESULTS = 8


def _today():
    return library_today(get_settings())


def _status_for(outcome: Outcome) -> int:
    return 200 if outcome.ok else 422


async def _desk_context(message: dict | None) -> dict:
    patron_id = session.get("desk_patron")
    panel = await get_db().read(records.patron_panel, patron_id, _today()) if patron_id else None
    if patron_id and panel is None:
        session.pop("desk_patron", None)
    return _desk_page(panel, message)


def _desk_page(panel: records.PatronPanel | None, message: dict | None) -> dict:
    return {
        "panel": panel,
        "message": message,
        "mode": session.get("desk_mode", "auto"),
        "modes": DESK_MODES,
        "today": _today(),
    }


def _message(
    outcome: Outcome,
    question: loans.LoanQuestion | None = None,
    actions_for: int | None = None,
) -> dict:
    """The desk's message, in plain values: it is kept in the session cookie for a plain form.

    ``actions_for`` is a loan whose staff actions the panel shows open, for a refusal that
    staff may override there (a renewal past the limit).
    """
    set_aside = outcome.set_aside
    return {
        "ok": outcome.ok,
        "text": outcome.message,
        "kind": outcome.action,
        "undoable": outcome.action in ("lent", "returned"),
        "set_aside": {
            "hold_id": set_aside.hold_id,
            "patron_name": set_aside.patron_name,
            "title": set_aside.title,
            "barcode": set_aside.barcode,
            "pickup_by": short_date(set_aside.pickup_by),
        }
        if set_aside
        else None,
        "question": {
            "barcode": question.barcode,
            "title": question.title,
            "borrower_name": question.borrower_name,
            "patron_id": question.patron_id,
            "patron_name": question.patron_name,
        }
        if question
        else None,
        # A refused lend that staff may make anyway: the panel offers "Lend anyway".
        "lend_anyway": outcome.overridable,
        "actions_for": actions_for if not outcome.ok else None,
    }


async def _action_answer(
    outcome: Outcome,
    message,
    *,
    fragment: str,
    build_context,
    session_key: str,
    page: str,
):
    """An action's answer: the page's fragments for htmx; for a plain form, the message kept
    in the session and a redirect (post, then redirect) to the page, which shows it."""
    if htmx.is_htmx():
        return await htmx.render_fragment(
            fragment, _status_for(outcome), **await build_context(message)
        )
    session[session_key] = message
    return redirect(url_for(page), 303)


async def _desk_answer(
    outcome: Outcome,
    build_context=_desk_context,
    question: loans.LoanQuestion | None = None,
    actions_for: int | None = None,
):
    return await _action_answer(
        outcome,
        _message(outcome, question, actions_for),
        fragment="desk/_desk_update.html",
        build_context=build_context,
        session_key="desk_message",
        page="circulation.desk",
    )


@blueprint.get("/desk")
@allow(Access.STAFF)
async def desk():
    context = await _desk_context(session.pop("desk_message", None))
    return await htmx.render_page_or_fragment("desk/desk.html", "desk/_desk_panel.html", **context)


@blueprint.post("/desk/scan")
@allow(Access.STAFF)
async def desk_scan():
    """One scan: a patron's card or email selects them; a copy barcode lends or returns it.

    ``patron`` is the patron the desk's screen showed (empty: nobody), which a
    copy scan must match (``loans.desk_scan``); ``answer`` answers the question
    about a copy on loan to someone else.
    """
    form = await request.form
    code = form.get("code", "").strip()
    mode = form.get("mode", session.get("desk_mode", "auto"))
    if mode not in DESK_MODES:
        mode = "auto"
    shown = form.get("patron", "").strip()
    answer = form.get("answer") or None
    if (shown and not (shown.isdecimal() and len(shown) < 12)) or (
        answer is not None and answer not in loans.ANSWERS
    ):
        return await _desk_answer(Outcome("refused", "That scan was not sent by the desk page."))
    # Writing the session re-signs and re-sends the cookie: only when the mode changes.
    if session.get("desk_mode", "auto") != mode:
        session["desk_mode"] = mode
    if not code:
        return await _desk_answer(Outcome("refused", "Scan a card or a copy barcode first."))
    if len(code) > MAX_CODE_LENGTH:
        return await _desk_answer(
            Outcome("refused", "That is too long to be a card number or barcode.")
        )
    scan = await get_db().write(
        loans.desk_scan,
        code=code,
        patron_id=session.get("desk_patron"),
        shown_patron_id=int(shown) if shown else None,
        actor_id=signed_in_user().user_id,
        today=_today(),
        mode=mode,
        answer=answer,
        library_name=get_settings().library_name,
    )
    selected = scan.panel.patron.user_id if scan.panel else None
    if session.get("desk_patron") != selected:
        if selected is None:
            session.pop("desk_patron", None)
        else:
            session["desk_patron"] = selected

    async def scanned_desk(message: dict | None) -> dict:
        return _desk_page(scan.panel, message)

    return await _desk_answer(scan.outcome, scanned_desk, scan.question)


async def _form_int(name: str) -> int | None:
    raw = (await request.form).get(name, "").strip()
    return int(raw) if raw.isdecimal() and len(raw) < 12 else None


@blueprint.post("/desk/renew")
@allow(Access.STAFF)
async def desk_renew():
    loan_id = await _form_int("loan_id")
    if loan_id is None:
        outcome = Outcome("not_found", "There is no such open loan.")
    else:
        outcome = await get_db().write(
            loans.renew, loan_id=loan_id, actor_id=signed_in_user().user_id, today=_today()
        )
    if outcome.patron_id and not session.get("desk_patron"):
        session["desk_patron"] = outcome.patron_id
    return await _desk_answer(outcome, actions_for=loan_id)


@blueprint.post("/desk/undo")
@allow(Access.STAFF)
async def desk_undo():
    outcome = await get_db().write(undo.undo_last, actor_id=signed_in_user().user_id)
    return await _desk_answer(outcome)


@blueprint.post("/desk/hold")
@allow(Access.STAFF)
async def desk_hold():
    """Place a hold for the selected patron on a title named by ISBN, copy barcode or number."""
    patron_id = session.get("desk_patron")
    if not patron_id:
        return await _desk_answer(Outcome("refused", "Scan the patron's card first."))
    typed = (await request.form).get("book", "")
    book_id = await _book_named(typed)
    if book_id is None and not htmx.is_htmx() and 0 < len(typed.strip()) <= MAX_HOLD_SEARCH:
        # Without JavaScript there is no live list under the box: show the titles it matches.
        return redirect(url_for("circulation.desk_hold_search", book=typed.strip()), 303)
    if book_id is None:
        return await _desk_answer(
            Outcome("refused", "No title has that ISBN, copy barcode or number.", patron_id)
        )
    outcome = await get_db().write(
        holds.place_hold, book_id=book_id, patron_id=patron_id, actor_id=signed_in_user().user_id
    )
    return await _desk_answer(outcome)


async def _book_named(text: str) -> int | None:
    text = text.strip()
    if not text or len(text) > 64:
        return None
    db = get_db()
    query = parse_query(text)
    if query.isbn13:
        found = await catalogue.find_book_by_isbn(db, query.isbn13)
        if found is not None:
            return found
    found = await catalogue.find_book_by_barcode(db, text)
    if found is None and text.isdecimal() and len(text) < 19:
        book = await catalogue.get_book(db, int(text))
        found = book.book_id if book else None
    return found


@blueprint.post("/desk/done")
@allow(Access.STAFF)
async def desk_done():
    """Finish with this patron: the desk is ready for the next one.

    A patron who asked for receipts is emailed one for the visit now ending.
    """
    patron_id = session.pop("desk_patron", None)
    message = "Ready for the next patron."
    if patron_id:
        settings = get_settings()
        today = _today()
        day_start = datetime.combine(today, time.min, tzinfo=settings.zone).astimezone(UTC)
        emailed_to = await get_db().write(
            receipts.queue_visit_receipt,
            patron_id=patron_id,
            actor_id=signed_in_user().user_id,
            today=today,
            day_started_at=day_start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            library_name=settings.library_name,
        )
        if emailed_to:
            message += f" Their receipt will be emailed to {emailed_to}."
    return await _desk_answer(Outcome("cleared", message))


async def _account_context(message: dict | None) -> dict:
    db = get_db()
    user = signed_in_user()
    today = _today()
    return {
        "panel": await db.read(records.patron_panel, user.user_id, today),
        "renewal_advice": await db.read(records.renewal_advice, user.user_id, today),
        "past": await db.read(records.past_loans, user.user_id, today),
        "keeps_history": await db.read(privacy.keeps_history, user.user_id),
        "message": message,
        "today": today,
    }


async def _account_answer(outcome: Outcome):
    if outcome.action == "not_found":
        abort(404)
    return await _action_answer(
        outcome,
        {"ok": outcome.ok, "text": outcome.message},
        fragment="account/_account.html",
        build_context=_account_context,
        session_key="account_message",
        page="circulation.account",
    )


@blueprint.get("/account")
@allow(Access.LOGGED_IN)
async def account():
    context = await _account_context(session.pop("account_message", None))
    return await htmx.render_page_or_fragment(
        "account/account.html", "account/_account.html", **context
    )


@blueprint.post("/account/loans/<int:loan_id>/renew")
@allow(Access.LOGGED_IN)
async def account_renew(loan_id: int):
    user = signed_in_user()
    outcome = await get_db().write(
        loans.renew, loan_id=loan_id, actor_id=user.user_id, today=_today(), owner_id=user.user_id
    )
    return await _account_answer(outcome)


@blueprint.post("/account/holds/<int:hold_id>/cancel")
@allow(Access.LOGGED_IN)
async def account_cancel_hold(hold_id: int):
    user = signed_in_user()
    outcome = await get_db().write(
        holds.cancel_hold,
        hold_id=hold_id,
        actor_id=user.user_id,
        today=_today(),
        owner_id=user.user_id,
        library_name=get_settings().library_name,
    )
    return await _account_answer(outcome)


@blueprint.post("/books/<int:book_id>/hold")
@allow(Access.LOGGED_IN)
async def place_hold(book_id: int):
    """A patron holds a title for themselves; the answer is My account, showing the queue."""
    user = signed_in_user()
    outcome = await get_db().write(
        holds.place_hold, book_id=book_id, patron_id=user.user_id, actor_id=user.user_id
    )
    return await _account_answer(outcome)


@blueprint.get("/patrons/<int:user_id>")
@allow(Access.STAFF)
async def patron(user_id: int):
    return await _patron_page(user_id)


async def _patron_page(user_id: int, status: int = 200):
    db = get_db()
    today = _today()
    panel = await db.read(records.patron_panel, user_id, today)
    if panel is None:
        abort(404)
    return await htmx.render_page_or_fragment(
        "circulation/patron.html",
        "circulation/_patron.html",
        status=status,
        panel=panel,
        past=await db.read(records.past_loans, user_id, today),
        events=await db.read(events.events_for_patron, user_id),
        overrides=await db.read(events.overrides_for_patron, user_id),
        sign_in=await db.read(
            credentials.sign_in_status, user_id, utc_now(), signed_in_user().is_admin
        ),
        today=today,
    )


# Staff actions on one loan, from the desk's patron panel or the patron's page: the form's
# ``back`` field says which page answers ("desk", the default, or "patron").


async def _loan_answer(outcome: Outcome):
    """The desk's answer, or the patron page's: a success is flashed there after a redirect;
    a refusal shows the page again with the reason, as a 422, having changed nothing."""
    if (await request.form).get("back") != "patron":
        if outcome.patron_id and not session.get("desk_patron"):
            session["desk_patron"] = outcome.patron_id
        return await _desk_answer(outcome)
    if outcome.patron_id is None:
        abort(404)
    await flash(outcome.message, "success" if outcome.ok else "error")
    if outcome.ok:
        return htmx.redirect(url_for("circulation.patron", user_id=outcome.patron_id))
    return await _patron_page(outcome.patron_id, status=422)


async def _reason() -> tuple[str | None, Outcome | None]:
    """The override's reason from the form, or the refusal that says what is wrong with it."""
    try:
        return rules.override_reason((await request.form).get("reason")), None
    except ValueError as error:
        return None, Outcome("refused", str(error))


async def _refused_for_loan(loan_id: int, text: str) -> Outcome:
    """A refusal about a loan, addressed to its patron's page (or the desk)."""
    loan = await get_db().fetch_one("SELECT UserID FROM Loans WHERE LoanID = ?", (loan_id,))
    return Outcome("refused", text, loan["UserID"] if loan else None)


@blueprint.get("/loans/<int:loan_id>/actions")
@allow(Access.STAFF)
async def loan_actions(loan_id: int):
    """A loan's staff actions: the desk loads them into the loan's "More" when it is opened;
    without JavaScript its link opens them as a page. Their answers go to the desk."""
    today = _today()
    found = await get_db().read(records.open_loan, loan_id, today)
    if found is None:
        abort(404)
    return await htmx.render_page_or_fragment(
        "circulation/loan_actions.html",
        "circulation/_loan_action_forms.html",
        loan=found.loan,
        borrower=found.borrower,
        rule=found.rule,
        today=today,
    )


@blueprint.post("/loans/<int:loan_id>/lost")
@allow(Access.STAFF)
async def mark_lost(loan_id: int):
    """Close the loan as lost: the copy is recorded lost until it is scanned back in."""
    return await _close_missing(loan_id, "lost")


@blueprint.post("/loans/<int:loan_id>/claims-returned")
@allow(Access.STAFF)
async def claims_returned(loan_id: int):
    """The patron says they returned it: the loan closes (no more reminders), the copy is
    missing until it is scanned back in."""
    return await _close_missing(loan_id, "claims_returned")


async def _close_missing(loan_id: int, closed_as: str):
    outcome = await get_db().write(
        loans.close_missing,
        loan_id=loan_id,
        closed_as=closed_as,
        actor_id=signed_in_user().user_id,
        today=_today(),
    )
    return await _loan_answer(outcome)


@blueprint.post("/loans/<int:loan_id>/due")
@allow(Access.STAFF)
async def change_due(loan_id: int):
    """Set a loan's due date by hand, with a reason: an override, logged."""
    raw = (await request.form).get("due", "").strip()
    try:
        new_due = date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        new_due = None
    reason, refusal = await _reason()
    if new_due is None:
        refusal = Outcome("refused", "Choose the new due date (a date like 2026-12-24).")
    if refusal or new_due is None or reason is None:
        text = refusal.message if refusal else "Give a reason for the override."
        return await _loan_answer(await _refused_for_loan(loan_id, text))
    outcome = await get_db().write(
        loans.change_due_date,
        loan_id=loan_id,
        new_due=new_due,
        reason=reason,
        actor_id=signed_in_user().user_id,
        today=_today(),
    )
    return await _loan_answer(outcome)


@blueprint.post("/loans/<int:loan_id>/renew-anyway")
@allow(Access.STAFF)
async def renew_anyway(loan_id: int):
    """Renew past the renewal limit, with a reason: an override, logged."""
    reason, refusal = await _reason()
    if refusal:
        return await _loan_answer(await _refused_for_loan(loan_id, refusal.message))
    outcome = await get_db().write(
        loans.renew,
        loan_id=loan_id,
        actor_id=signed_in_user().user_id,
        today=_today(),
        override_reason=reason,
    )
    return await _loan_answer(outcome)


@blueprint.post("/desk/lend-anyway")
@allow(Access.STAFF)
async def desk_lend_anyway():
    """Lend to the patron at the desk past their loan limit or overdue block, with a reason."""
    patron_id = session.get("desk_patron")
    if not patron_id:
        return await _desk_answer(Outcome("refused", "Scan the patron's card first."))
    barcode = (await request.form).get("barcode", "").strip()
    reason, refusal = await _reason()
    if refusal:
        return await _desk_answer(
            Outcome(
                refusal.action,
                refusal.message,
                patron_id,
                overridable=barcode if 0 < len(barcode) <= MAX_CODE_LENGTH else None,
            )
        )
    if not barcode or len(barcode) > MAX_CODE_LENGTH:
        return await _desk_answer(Outcome("refused", "Scan the copy to lend.", patron_id))
    outcome = await get_db().write(
        loans.lend,
        barcode=barcode,
        patron_id=patron_id,
        actor_id=signed_in_user().user_id,
        today=_today(),
        library_name=get_settings().library_name,
        override_reason=reason,
    )
    return await _desk_answer(outcome)


@blueprint.post("/patrons/<int:user_id>/desk")
@allow(Access.STAFF)
async def patron_to_desk(user_id: int):
    """Open this patron at the desk."""
    found = await get_db().read(get_patron, user_id)
    if found is None:
        abort(404)
    session["desk_patron"] = found.user_id
    return redirect(url_for("circulation.desk"), 303)


@blueprint.get("/copies/<barcode>")
@allow(Access.STAFF)
async def copy(barcode: str):
    db = get_db()
    today = _today()
    record = await db.read(records.copy_record, barcode, today)
    if record is None:
        abort(404)
    return await htmx.render_page_or_fragment(
        "circulation/copy.html",
        "circulation/_copy.html",
        record=record,
        loans=await db.read(records.copy_loans, record.copy_id, today),
        events=await db.read(events.events_for_copy, record.copy_id),
        today=today,
    )


@blueprint.post("/desk/renew-all")
@allow(Access.STAFF)
async def desk_renew_all():
    """Renew every loan of the patron on screen that may be renewed, in one transaction."""
    patron_id = session.get("desk_patron")
    if not patron_id or await _form_int("patron_id") != patron_id:
        return await _desk_answer(
            Outcome("refused", "That patron is no longer at the desk: nothing was renewed.")
        )
    outcome = await get_db().write(
        loans.renew_all, patron_id=patron_id, actor_id=signed_in_user().user_id, today=_today()
    )
    return await _desk_answer(outcome)


@blueprint.get("/desk/holds/<int:hold_id>/cancel")
@allow(Access.STAFF)
async def confirm_desk_cancel_hold(hold_id: int):
    """Cancelling a hold asks first: this page without JavaScript, a dialog with it."""
    patron_id = session.get("desk_patron")
    panel = await get_db().read(records.patron_panel, patron_id, _today()) if patron_id else None
    hold = next((h for h in panel.holds if h.hold_id == hold_id), None) if panel else None
    if panel is None or hold is None:
        return redirect(url_for("circulation.desk"))
    passes_on = " The copy on the hold shelf passes to the next in the queue."
    ready = passes_on if hold.status == "ready" else ""
    return await render_template(
        "layout/confirm.html",
        confirm={
            "question": f"Cancel {panel.patron.name}'s hold on “{hold.title}”?",
            "detail": f"They lose their place in the queue.{ready}",
            "action": url_for("circulation.desk_cancel_hold", hold_id=hold_id),
            "yes": "Cancel the hold",
            "no": "Keep the hold",
            "back": url_for("circulation.desk"),
        },
    )


@blueprint.post("/desk/holds/<int:hold_id>/cancel")
@allow(Access.STAFF)
async def desk_cancel_hold(hold_id: int):
    """Cancel a hold of the patron on screen, once confirmed; a ready hold's copy passes down
    the queue."""
    patron_id = session.get("desk_patron")
    if not patron_id:
        return await _desk_answer(Outcome("refused", "Scan the patron's card first."))
    if (await request.form).get("confirmed") != "yes":
        return htmx.redirect(url_for("circulation.confirm_desk_cancel_hold", hold_id=hold_id))
    outcome = await get_db().write(
        holds.cancel_hold,
        hold_id=hold_id,
        actor_id=signed_in_user().user_id,
        today=_today(),
        owner_id=patron_id,
        library_name=get_settings().library_name,
    )
    if outcome.action == "not_found":
        outcome = Outcome("not_found", f"{outcome.message} Nothing was cancelled.", patron_id)
    return await _desk_answer(outcome)


@blueprint.get("/desk/holds/search")
@allow(Access.STAFF)
async def desk_hold_search():
    """Titles matching what was typed in the hold box, each with "Hold for <patron>".

    The hold box asks for the fragment as the librarian types; without
    JavaScript, submitting a title there lands on this page with the same list.
    """
    typed = request.args.get("book", "").strip()
    patron_id = session.get("desk_patron")
    db = get_db()
    panel = await db.read(records.patron_panel, patron_id, _today()) if patron_id else None
    results = []
    if typed and len(typed) <= MAX_HOLD_SEARCH:
        found = await catalogue.lookup(
            db,
            parse_query(typed),
            1,
            HOLD_SEARCH_RESULTS,
            get_search_cache(),
            get_catalogue_words(),
        )
        results = found.page.results
    return await htmx.render_page_or_fragment(
        "desk/hold_search.html",
        "desk/_hold_search_results.html",
        panel=panel,
        typed=typed,
        too_long=len(typed) > MAX_HOLD_SEARCH,
        results=results,
    )


SLIP_PAPERS = {"80mm": "80 mm receipt", "a4": "A4"}


def _paper() -> str:
    paper = request.args.get("paper", "80mm")
    return paper if paper in SLIP_PAPERS else "80mm"


@blueprint.get("/desk/holds/<int:hold_id>/slip")
@allow(Access.STAFF)
async def hold_slip(hold_id: int):
    """The slip put in a copy set aside on the hold shelf: whose it is, until when."""
    hold = await get_db().read(hold_shelf.ready_hold, hold_id)
    if hold is None:
        abort(404)
    return await render_template(
        "desk/hold_slip.html", hold=hold, paper=_paper(), papers=SLIP_PAPERS, today=_today()
    )


@blueprint.get("/desk/patrons/<int:user_id>/slip")
@allow(Access.STAFF)
async def due_date_slip(user_id: int):
    """The patron's due-date slip: what they borrowed today and what else they have, due when."""
    today = _today()
    panel = await get_db().read(records.patron_panel, user_id, today)
    if panel is None:
        abort(404)
    return await render_template(
        "desk/due_date_slip.html",
        panel=panel,
        borrowed_today=[loan for loan in panel.loans if loan.loan_date == today],
        other_loans=[loan for loan in panel.loans if loan.loan_date != today],
        ready_holds=[hold for hold in panel.holds if hold.status == "ready"],
        paper=_paper(),
        papers=SLIP_PAPERS,
        today=today,
    )
