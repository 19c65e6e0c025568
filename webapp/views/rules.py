"""The circulation rules page, for admins: loan rules per role, closed days, hold pickup days."""

from __future__ import annotations

from datetime import date

from quart import Blueprint, redirect, render_template, request, session, url_for

from webapp import rules
from webapp.access import Access, allow
from webapp.models import rule_settings
from webapp.request_context import get_db, signed_in_user

blueprint = Blueprint("rules", __name__)

# (LoanRule attribute and form field suffix, label, lowest, highest), with the
# same bounds as the schema's CHECK constraints.
RULE_FIELDS = (
    ("loan_days", "Loan period (days)", 1, 365),
    ("max_loans", "Most open loans", 0, 1000),
    ("max_renewals", "Most renewals", 0, 100),
    ("renew_overdue_days", "Renewable up to this many days overdue", 0, 365),
    ("max_holds", "Most holds (waiting or ready)", 0, 1000),
)
PICKUP_DAYS_RANGE = (1, 60)


async def _page(*, errors: dict[str, str] | None = None, form=None, status: int = 200):
    db = get_db()
    calendar = await db.read(rule_settings.load_calendar)
    body = await render_template(
        "admin/rules.html",
        loan_rules=await db.read(rule_settings.load_rules),
        roles=rules.ROLES,
        rule_fields=RULE_FIELDS,
        weekday_names=rules.WEEKDAY_NAMES,
        closed_weekdays=calendar.closed_weekdays,
        closed_days=await db.read(rule_settings.closed_days),
        pickup_days=await db.read(rule_settings.hold_pickup_days),
        errors=errors or {},
        form=form,
        message=session.pop("rules_message", None),
    )
    return body, status


def _bounded_int(raw: str | None, lowest: int, highest: int) -> int | None:
    raw = (raw or "").strip()
    if not raw.isdecimal() or len(raw) > 4:
        return None
    value = int(raw)
    return value if lowest <= value <= highest else None


@blueprint.get("/admin/rules")
@allow(Access.ADMIN)
async def rules_page():
    return await _page()


@blueprint.post("/admin/rules")
@allow(Access.ADMIN)
async def rules_save():
    form = await request.form
    errors: dict[str, str] = {}
    loan_rules = []
    for role in rules.ROLES:
        values: dict[str, int] = {}
        for name, label, lowest, highest in RULE_FIELDS:
            field = f"{role}-{name}"
            value = _bounded_int(form.get(field), lowest, highest)
            if value is None:
                errors[field] = f"{label}: a whole number from {lowest} to {highest}."
            else:
                values[name] = value
        if len(values) < len(RULE_FIELDS):
            continue
        loan_rules.append(
            rules.LoanRule(
                role=role,
                block_when_overdue=form.get(f"{role}-block_when_overdue") == "on",
                **values,
            )
        )
    closed_weekdays = frozenset(day for day in range(7) if form.get(f"closed-{day}") == "on")
    if len(closed_weekdays) == 7:
        errors["closed-weekdays"] = "The library must be open on at least one day of the week."
    pickup_days = _bounded_int(form.get("hold_pickup_days"), *PICKUP_DAYS_RANGE)
    if pickup_days is None:
        errors["hold_pickup_days"] = (
            "Days to collect a hold: a whole number from "
            f"{PICKUP_DAYS_RANGE[0]} to {PICKUP_DAYS_RANGE[1]}."
        )
    if errors or pickup_days is None:
        return await _page(errors=errors, form=form, status=422)
    changes = await get_db().write(
        rule_settings.save_rules,
        loan_rules=loan_rules,
        closed_weekdays=closed_weekdays,
        pickup_days=pickup_days,
        actor_id=signed_in_user().user_id,
    )
    session["rules_message"] = f"Saved: {'; '.join(changes)}." if changes else "Nothing changed."
    return redirect(url_for("rules.rules_page"), 303)


@blueprint.post("/admin/rules/closed-days")
@allow(Access.ADMIN)
async def closed_day_add():
    form = await request.form
    try:
        day = date.fromisoformat(form.get("day", "").strip())
    except ValueError:
        return await _page(errors={"day": "Choose a date, like 2026-12-25."}, status=422)
    reason = form.get("reason", "").strip()
    if len(reason) > 200:
        return await _page(errors={"reason": "Keep the reason under 200 characters."}, status=422)
    added = await get_db().write(
        rule_settings.add_closed_day, day=day, reason=reason, actor_id=signed_in_user().user_id
    )
    session["rules_message"] = (
        f"Closed on {day:%A %-d %B %Y}." if added else f"{day:%A %-d %B %Y} was already closed."
    )
    return redirect(url_for("rules.rules_page"), 303)


@blueprint.post("/admin/rules/closed-days/<day>/delete")
@allow(Access.ADMIN)
async def closed_day_remove(day: str):
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        parsed = None
    removed = parsed is not None and await get_db().write(
        rule_settings.remove_closed_day, day=parsed, actor_id=signed_in_user().user_id
    )
    if not removed:
        return await _page(
            errors={"day": "That day is not in the list of closed days."}, status=404
        )
    session["rules_message"] = f"Open again on {parsed:%A %-d %B %Y}."
    return redirect(url_for("rules.rules_page"), 303)
