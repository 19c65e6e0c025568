"""The circulation rules page, for admins: the rules matrix (patron categories × item types),
the categories' limits, item types, terms, closed days and hold pickup days.

The matrix is a table edited in place one cell at a time: a cell's "Edit" link
is a real link to the cell's own page (no JavaScript), and with htmx it swaps the
cell for its form and the saved cell back in; a bad value answers 422 with the
reason beside the field, and nothing is saved. Every change is logged by the
models as a 'rules_changed' event.
"""

from __future__ import annotations

from datetime import date

from quart import Blueprint, redirect, render_template, request, session, url_for

from webapp import rules, validation
from webapp.access import Access, allow
from webapp.htmx import VARY, is_htmx, render_fragment
from webapp.models import rule_settings
from webapp.request_context import get_db, signed_in_user

blueprint = Blueprint("rules", __name__)

# (Category attribute and form field, label, lowest, highest), with the same bounds as
# the schema's CHECK constraints.
CATEGORY_FIELDS = (
    ("max_loans", "Most open loans in all", 0, 1000),
    ("max_holds", "Most holds (waiting or ready)", 0, 1000),
    ("renew_overdue_days", "Renewable up to this many days overdue", 0, 365),
)
PICKUP_DAYS_RANGE = (1, 60)
NAME_LENGTH = 40
TERM_NAME_LENGTH = 60
ANY = "any"


def _message(text: str) -> None:
    session["rules_message"] = text


async def _page(*, errors: dict[str, str] | None = None, form=None, status: int = 200):
    db = get_db()

    def everything(conn):
        return {
            "calendar": rule_settings.load_calendar(conn),
            "categories": rule_settings.load_categories(conn),
            "item_types": rule_settings.load_item_types(conn),
            "cells": {cell.key: cell for cell in rule_settings.load_cells(conn)},
            "closed_days": rule_settings.closed_days(conn),
            "terms": rule_settings.terms(conn),
            "pickup_days": rule_settings.hold_pickup_days(conn),
        }

    data = await db.read(everything)
    body = await render_template(
        "admin/rules.html",
        category_fields=CATEGORY_FIELDS,
        weekday_names=rules.WEEKDAY_NAMES,
        closed_weekdays=data["calendar"].closed_weekdays,
        errors=errors or {},
        form=form,
        message=session.pop("rules_message", None),
        describe_cell=rules.describe_cell,
        **{key: value for key, value in data.items() if key != "calendar"},
    )
    return body, status, VARY


def _bounded_int(raw: str | None, lowest: int, highest: int) -> int | None:
    return rules.whole_number(raw, lowest, highest)


def _name(raw: str | None, length: int) -> str | None:
    """A name of 1 to ``length`` characters, without control characters; None otherwise."""
    try:
        return validation.required_text(raw, length)
    except ValueError:
        return None


@blueprint.get("/admin/rules")
@allow(Access.ADMIN)
async def rules_page():
    return await _page()


@blueprint.post("/admin/rules")
@allow(Access.ADMIN)
async def rules_save():
    """The library's calendar: closed weekdays and days to collect a hold."""
    form = await request.form
    errors: dict[str, str] = {}
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
        rule_settings.save_settings,
        closed_weekdays=closed_weekdays,
        pickup_days=pickup_days,
        actor_id=signed_in_user().user_id,
    )
    _message(f"Saved: {'; '.join(changes)}." if changes else "Nothing changed.")
    return redirect(url_for("rules.rules_page"), 303)


# The matrix, one cell at a time


def _cell_key(category: str, item_type: str) -> tuple[int | None, int | None] | None:
    """The (category, item type) of a cell's URL, "any" being None; None if malformed."""
    key: list[int | None] = []
    for part in (category, item_type):
        if part == ANY:
            key.append(None)
        elif part.isdecimal() and len(part) <= 9:
            key.append(int(part))
        else:
            return None
    return key[0], key[1]


async def _cell_context(category: str, item_type: str):
    """What a cell's form and display need, or None when there is no such cell."""
    key = _cell_key(category, item_type)
    if key is None:
        return None

    def read(conn):
        if not rule_settings.cell_exists_for(conn, *key):
            return None
        item_type_name, category_name = rule_settings.cell_names(conn, *key)
        return {
            "name": f"{item_type_name} × {category_name}",
            "column": item_type_name,
            "cell": rule_settings.get_cell(conn, *key),
        }

    found = await get_db().read(read)
    if found is None:
        return None
    return {
        "category": category,
        "item_type": item_type,
        "key": key,
        "is_default": key == (None, None),
        "describe_cell": rules.describe_cell,
        **found,
    }


def _cell_values(cell: rules.Cell | None) -> dict[str, str]:
    """The form's starting values: the cell's own, or a 14-day loan for a new cell."""
    if cell is None:
        return {"period": "days", "loan_days": "14", "max_renewals": "2", "holds": "on"}
    period = "not_for_loan" if cell.not_for_loan else "term" if cell.due_at_term_end else "days"
    return {
        "period": period,
        "loan_days": str(cell.loan_days),
        "max_renewals": str(cell.max_renewals),
        "max_of_type": "" if cell.max_of_type is None else str(cell.max_of_type),
        "holds": "on" if cell.holds_allowed else "",
    }


async def _cell_form(context, values, errors, status):
    if is_htmx():
        return await render_fragment(
            "admin/_rule_cell_form.html", status, values=values, errors=errors, **context
        )
    body = await render_template("admin/rule_cell.html", values=values, errors=errors, **context)
    return body, status, VARY


@blueprint.get("/admin/rules/matrix/<category>/<item_type>")
@allow(Access.ADMIN)
async def rule_cell(category: str, item_type: str):
    """A cell's form: in place for htmx (``?show`` gives the cell back instead), or a page."""
    context = await _cell_context(category, item_type)
    if context is None:
        return await _not_found()
    if is_htmx() and request.args.get("show"):
        return await render_fragment("admin/_rule_cell.html", **context)
    return await _cell_form(context, _cell_values(context["cell"]), {}, 200)


@blueprint.post("/admin/rules/matrix/<category>/<item_type>")
@allow(Access.ADMIN)
async def rule_cell_save(category: str, item_type: str):
    context = await _cell_context(category, item_type)
    if context is None:
        return await _not_found()
    form = await request.form
    cell, errors = rules.parse_cell(form, *context["key"])
    if cell is None:
        return await _cell_form(context, dict(form), errors, 422)
    change = await get_db().write(rule_settings.save_cell, cell, actor_id=signed_in_user().user_id)
    text = f"Saved: {change}." if change else "Nothing changed."
    if is_htmx():
        return await render_fragment(
            "admin/_rule_cell.html", **{**context, "cell": cell, "saved": text}
        )
    _message(text)
    return redirect(url_for("rules.rules_page", _anchor=f"cell-{category}-{item_type}"), 303)


@blueprint.post("/admin/rules/matrix/<category>/<item_type>/clear")
@allow(Access.ADMIN)
async def rule_cell_clear(category: str, item_type: str):
    context = await _cell_context(category, item_type)
    if context is None:
        return await _not_found()
    if context["is_default"]:
        errors = {"period": "The rule for any category and any item type cannot be removed."}
        return await _cell_form(context, _cell_values(context["cell"]), errors, 422)
    change = await get_db().write(
        rule_settings.clear_cell, *context["key"], actor_id=signed_in_user().user_id
    )
    text = f"Saved: {change}." if change else "There was no rule there."
    if is_htmx():
        return await render_fragment(
            "admin/_rule_cell.html", **{**context, "cell": None, "saved": text}
        )
    _message(text)
    return redirect(url_for("rules.rules_page", _anchor=f"cell-{category}-{item_type}"), 303)


async def _not_found():
    return await _page(errors={"matrix": "There is no such rule in the matrix."}, status=404)


# Patron categories and item types


def _category_values(form) -> tuple[dict | None, dict[str, str]]:
    errors: dict[str, str] = {}
    name = _name(form.get("name"), NAME_LENGTH)
    if name is None:
        errors["name"] = f"Name: 1 to {NAME_LENGTH} characters."
    values: dict = {"name": name, "block_when_overdue": form.get("block_when_overdue") == "on"}
    for field, label, lowest, highest in CATEGORY_FIELDS:
        value = _bounded_int(form.get(field), lowest, highest)
        if value is None:
            errors[field] = f"{label}: a whole number from {lowest} to {highest}."
        values[field] = value
    return (None if errors else values), errors


@blueprint.post("/admin/rules/categories")
@allow(Access.ADMIN)
async def category_add():
    return await _save_category(None)


@blueprint.post("/admin/rules/categories/<int:category_id>")
@allow(Access.ADMIN)
async def category_save(category_id: int):
    return await _save_category(category_id)


async def _save_category(category_id: int | None):
    form = await request.form
    values, errors = _category_values(form)
    if values is None:
        return await _page(errors=errors, form=form, status=422)
    try:
        change = await get_db().write(
            rule_settings.save_category,
            category_id=category_id,
            actor_id=signed_in_user().user_id,
            **values,
        )
    except LookupError:
        return await _page(errors={"name": "There is no such patron category."}, status=404)
    except ValueError as error:
        return await _page(errors={"name": str(error)}, form=form, status=422)
    _message(f"Saved: {change}.")
    return redirect(url_for("rules.rules_page", _anchor="categories"), 303)


@blueprint.post("/admin/rules/categories/<int:category_id>/delete")
@allow(Access.ADMIN)
async def category_delete(category_id: int):
    try:
        change = await get_db().write(
            rule_settings.delete_category,
            category_id=category_id,
            actor_id=signed_in_user().user_id,
        )
    except LookupError:
        return await _page(errors={"name": "There is no such patron category."}, status=404)
    except ValueError as error:
        return await _page(errors={"name": str(error)}, status=422)
    _message(f"Saved: {change}.")
    return redirect(url_for("rules.rules_page", _anchor="categories"), 303)


@blueprint.post("/admin/rules/item-types")
@allow(Access.ADMIN)
async def item_type_add():
    return await _save_item_type(None)


@blueprint.post("/admin/rules/item-types/<int:item_type_id>")
@allow(Access.ADMIN)
async def item_type_save(item_type_id: int):
    return await _save_item_type(item_type_id)


async def _save_item_type(item_type_id: int | None):
    form = await request.form
    name = _name(form.get("name"), NAME_LENGTH)
    if name is None:
        errors = {"item_type_name": f"Item type: 1 to {NAME_LENGTH} characters."}
        return await _page(errors=errors, form=form, status=422)
    try:
        change = await get_db().write(
            rule_settings.save_item_type,
            item_type_id=item_type_id,
            name=name,
            actor_id=signed_in_user().user_id,
        )
    except LookupError:
        return await _page(errors={"item_type_name": "There is no such item type."}, status=404)
    except ValueError as error:
        return await _page(errors={"item_type_name": str(error)}, form=form, status=422)
    _message(f"Saved: {change}.")
    return redirect(url_for("rules.rules_page", _anchor="item-types"), 303)


@blueprint.post("/admin/rules/item-types/<int:item_type_id>/delete")
@allow(Access.ADMIN)
async def item_type_delete(item_type_id: int):
    try:
        change = await get_db().write(
            rule_settings.delete_item_type,
            item_type_id=item_type_id,
            actor_id=signed_in_user().user_id,
        )
    except LookupError:
        return await _page(errors={"item_type_name": "There is no such item type."}, status=404)
    except ValueError as error:
        return await _page(errors={"item_type_name": str(error)}, status=422)
    _message(f"Saved: {change}.")
    return redirect(url_for("rules.rules_page", _anchor="item-types"), 303)


# Terms and closed days


def _date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat((raw or "").strip())
    except ValueError:
        return None


@blueprint.post("/admin/rules/terms")
@allow(Access.ADMIN)
async def term_add():
    form = await request.form
    errors: dict[str, str] = {}
    name = _name(form.get("term_name"), TERM_NAME_LENGTH)
    if name is None:
        errors["term_name"] = f"Term: a name of 1 to {TERM_NAME_LENGTH} characters."
    starts_on, ends_on = _date(form.get("starts_on")), _date(form.get("ends_on"))
    if starts_on is None:
        errors["starts_on"] = "First day: choose a date, like 2027-01-05."
    if ends_on is None:
        errors["ends_on"] = "Last day: choose a date, like 2027-03-26."
    elif starts_on is not None and ends_on < starts_on:
        errors["ends_on"] = "The last day of a term cannot be before its first."
    if errors or name is None or starts_on is None or ends_on is None:
        return await _page(errors=errors, form=form, status=422)
    try:
        change = await get_db().write(
            rule_settings.add_term,
            name=name,
            starts_on=starts_on,
            ends_on=ends_on,
            actor_id=signed_in_user().user_id,
        )
    except ValueError as error:
        return await _page(errors={"starts_on": str(error)}, form=form, status=422)
    _message(f"Saved: {change}.")
    return redirect(url_for("rules.rules_page", _anchor="terms"), 303)


@blueprint.post("/admin/rules/terms/<int:term_id>/delete")
@allow(Access.ADMIN)
async def term_remove(term_id: int):
    change = await get_db().write(
        rule_settings.remove_term, term_id=term_id, actor_id=signed_in_user().user_id
    )
    if change is None:
        return await _page(errors={"starts_on": "There is no such term."}, status=404)
    _message(f"Saved: {change}.")
    return redirect(url_for("rules.rules_page", _anchor="terms"), 303)


@blueprint.post("/admin/rules/closed-days")
@allow(Access.ADMIN)
async def closed_day_add():
    form = await request.form
    day = _date(form.get("day"))
    if day is None:
        return await _page(errors={"day": "Choose a date, like 2026-12-25."}, status=422)
    reason = form.get("reason", "").strip()
    if len(reason) > 200:
        return await _page(errors={"reason": "Keep the reason under 200 characters."}, status=422)
    added = await get_db().write(
        rule_settings.add_closed_day, day=day, reason=reason, actor_id=signed_in_user().user_id
    )
    _message(
        f"Closed on {day:%A %-d %B %Y}." if added else f"{day:%A %-d %B %Y} was already closed."
    )
    return redirect(url_for("rules.rules_page"), 303)


@blueprint.post("/admin/rules/closed-days/<day>/delete")
@allow(Access.ADMIN)
async def closed_day_remove(day: str):
    parsed = _date(day)
    removed = parsed is not None and await get_db().write(
        rule_settings.remove_closed_day, day=parsed, actor_id=signed_in_user().user_id
    )
    if not removed or parsed is None:
        return await _page(
            errors={"day": "That day is not in the list of closed days."}, status=404
        )
    _message(f"Open again on {parsed:%A %-d %B %Y}.")
    return redirect(url_for("rules.rules_page"), 303)
