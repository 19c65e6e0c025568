"""Staff editing of the collection and the patron list.

Every form posts to its own URL. With htmx the form swaps itself: a 422 with
the re-rendered form (and a message per field) on error, an ``HX-Redirect``
on success. Without JavaScript the same URL answers the whole page with the
errors, or redirects after a successful POST.
"""

from __future__ import annotations

from quart import Blueprint, abort, redirect, render_template, request, url_for

from webapp import htmx, validation
from webapp.access import Access, allow
from webapp.clock import library_today
from webapp.models import catalogue, codes, collection, deactivation, rule_settings
from webapp.models.patrons import get_patron
from webapp.request_context import get_db, get_settings, signed_in_user
from webapp.search_query import format_isbn
from webapp.views import cataloguing

blueprint = Blueprint("collection", __name__)

MAX_PAGE = 10_000


async def _form(page: str, fragment: str, errors: dict, **context):
    """A form, whole or as a fragment: with its errors it is sent as 422."""
    return await htmx.render_page_or_fragment(
        page, fragment, status=422 if errors else 200, errors=errors, **context
    )


async def _book_or_404(book_id: int) -> catalogue.Book:
    book = await catalogue.get_book(get_db(), book_id)
    if book is None:
        abort(404)
    return book


@blueprint.route("/books/new", methods=["GET", "POST"])
@allow(Access.STAFF)
async def new_book():
    if request.method == "GET":
        # /books/new?isbn=…: the form prefilled from the ISBN lookup (webapp/isbn_lookup.py),
        # or the book itself when the ISBN is catalogued already.
        prefill = await cataloguing.isbn_prefill(request.args.get("isbn") or "")
        if prefill.existing_book_id is not None:
            return htmx.redirect(url_for("catalogue.book", book_id=prefill.existing_book_id))
        return await _form(
            "collection/book_form.html",
            "collection/_book_form.html",
            prefill.errors,
            values=prefill.values,
            book_id=None,
            lookup=prefill.lookup,
        )
    form = await request.form
    values = dict(form)
    book, errors = collection.check_book_form(form)
    copies, copy_errors = collection.check_new_copies_form(form)
    errors.update(copy_errors)
    existing = None
    if not errors:
        try:
            book_id = await collection.create_book(get_db(), book, copies)
        except collection.Conflict as conflict:
            errors[conflict.field] = conflict.message
            existing = conflict.other_id if conflict.field == "isbn" else None
        else:
            cataloguing.fetch_cover_later(book_id)
            return htmx.redirect(url_for("catalogue.book", book_id=book_id))
    return await _form(
        "collection/book_form.html",
        "collection/_book_form.html",
        errors,
        values=values,
        book_id=None,
        existing_book_id=existing,
    )


def _book_values(book: catalogue.Book) -> dict:
    return {
        "title": book.title,
        "author": book.author,
        "isbn": format_isbn(book.isbn),
        "series": book.series,
        "subjects": book.subjects,
        "publisher": book.publisher,
        "year": book.year,
        "language": book.language,
        "shelf_mark": book.shelf_mark,
        "pages": book.pages,
    }


@blueprint.route("/books/<int:book_id>/edit", methods=["GET", "POST"])
@allow(Access.STAFF)
async def edit_book(book_id: int):
    found = await _book_or_404(book_id)
    context = {"book_id": book_id, "withdrawn": found.withdrawn}
    if request.method == "GET":
        return await _form(
            "collection/book_form.html",
            "collection/_book_form.html",
            {},
            values=_book_values(found),
            **context,
        )
    form = await request.form
    book, errors = collection.check_book_form(form)
    existing = None
    if not errors:
        try:
            await collection.update_book(get_db(), book_id, book)
        except collection.Conflict as conflict:
            errors[conflict.field] = conflict.message
            existing = conflict.other_id
        else:
            return htmx.redirect(url_for("catalogue.book", book_id=book_id))
    return await _form(
        "collection/book_form.html",
        "collection/_book_form.html",
        errors,
        values=dict(form),
        existing_book_id=existing,
        **context,
    )


@blueprint.get("/books/<int:book_id>/withdraw")
@allow(Access.STAFF)
async def confirm_withdraw_book(book_id: int):
    """Withdrawing asks first: this page without JavaScript, a dialog with it."""
    book = await _book_or_404(book_id)
    return await render_template(
        "layout/confirm.html",
        confirm={
            "question": f"Withdraw “{book.title}”?",
            "detail": "The title and its copies on the shelf leave the collection; its loan "
            "history is kept, and it can be put back later.",
            "action": url_for("collection.withdraw_book", book_id=book_id),
            "yes": "Withdraw this title",
            "no": "Keep it",
            "back": url_for("collection.edit_book", book_id=book_id),
        },
    )


@blueprint.post("/books/<int:book_id>/withdraw")
@allow(Access.STAFF)
async def withdraw_book(book_id: int):
    await _book_or_404(book_id)
    if (await request.form).get("confirmed") != "yes":
        return htmx.redirect(url_for("collection.confirm_withdraw_book", book_id=book_id))
    await collection.withdraw_book(get_db(), book_id, signed_in_user().user_id)
    return htmx.redirect(url_for("catalogue.book", book_id=book_id))


@blueprint.post("/books/<int:book_id>/reinstate")
@allow(Access.STAFF)
async def reinstate_book(book_id: int):
    await _book_or_404(book_id)
    await collection.reinstate_book(get_db(), book_id)
    return htmx.redirect(url_for("collection.edit_book", book_id=book_id))


@blueprint.post("/books/<int:book_id>/delete")
@allow(Access.STAFF)
async def delete_book(book_id: int):
    found = await _book_or_404(book_id)
    reason = await collection.delete_book(get_db(), book_id)
    if reason is None:
        return htmx.redirect(url_for("catalogue.search"))
    if htmx.is_htmx():
        return await htmx.render_error(409, reason)
    return await htmx.render_page_or_fragment(
        "collection/book_form.html",
        "collection/_book_form.html",
        status=409,
        errors={},
        values=_book_values(found),
        book_id=book_id,
        withdrawn=found.withdrawn,
        message=reason,
    )


@blueprint.route("/books/<int:book_id>/copies", methods=["GET", "POST"])
@allow(Access.STAFF)
async def book_copies(book_id: int):
    db = get_db()
    book = await _book_or_404(book_id)
    context = {
        "book": book,
        "statuses": validation.COPY_STATUSES,
        "item_types": await db.read(rule_settings.load_item_types),
    }
    if request.method == "GET":
        return await _form(
            "collection/copies.html",
            "collection/_copies.html",
            {},
            values={"copies": 1},
            copies=await collection.copies_for_editing(db, book_id),
            **context,
        )
    form = await request.form
    values, errors = collection.check_new_copies_form(form)
    added = []
    if not errors and not values["copies"] and not values["barcodes"]:
        errors["copies"] = "Add at least one copy, or type its barcode."
    if not errors:
        try:
            added = await collection.add_copies(db, book_id, values)
        except collection.Conflict as conflict:
            errors[conflict.field] = conflict.message
        else:
            if not htmx.is_htmx():
                return redirect(url_for("collection.book_copies", book_id=book_id), 303)
    shown = {"copies": 1} if added else dict(form)
    return await _form(
        "collection/copies.html",
        "collection/_copies.html",
        errors,
        values=shown,
        added=added,
        copies=await collection.copies_for_editing(db, book_id),
        **context,
    )


async def _copy_or_404(copy_id: int) -> collection.CopyRow:
    copy = await collection.get_copy(get_db(), copy_id)
    if copy is None:
        abort(404)
    return copy


@blueprint.route("/copies/<int:copy_id>/edit", methods=["GET", "POST"])
@allow(Access.STAFF)
async def edit_copy(copy_id: int):
    copy = await _copy_or_404(copy_id)
    context = {
        "copy": copy,
        "book": await catalogue.get_book(get_db(), copy.book_id),
        "statuses": validation.COPY_STATUSES,
        "item_types": await get_db().read(rule_settings.load_item_types),
    }
    if request.method == "GET":
        return await _form(
            "collection/copy_form.html",
            "collection/_copy_form.html",
            {},
            values={
                "status": copy.status,
                "location": copy.location,
                "item_type": str(copy.item_type_id),
            },
            **context,
        )
    form = await request.form
    values, errors = collection.check_copy_form(form)
    if not errors:
        try:
            await collection.update_copy(get_db(), copy, values, signed_in_user().user_id)
        except collection.Conflict as conflict:
            errors[conflict.field] = conflict.message
        else:
            return htmx.redirect(url_for("collection.book_copies", book_id=copy.book_id))
    return await _form(
        "collection/copy_form.html",
        "collection/_copy_form.html",
        errors,
        values=dict(form),
        **context,
    )


@blueprint.post("/copies/<int:copy_id>/delete")
@allow(Access.STAFF)
async def delete_copy(copy_id: int):
    copy = await _copy_or_404(copy_id)
    reason = await collection.delete_copy(get_db(), copy_id)
    if reason is None:
        return htmx.redirect(url_for("collection.book_copies", book_id=copy.book_id))
    if htmx.is_htmx():
        return await htmx.render_error(409, reason)
    return await htmx.render_page_or_fragment(
        "collection/copy_form.html",
        "collection/_copy_form.html",
        status=409,
        errors={},
        copy=copy,
        book=await catalogue.get_book(get_db(), copy.book_id),
        statuses=validation.COPY_STATUSES,
        item_types=await get_db().read(rule_settings.load_item_types),
        values={
            "status": copy.status,
            "location": copy.location,
            "item_type": str(copy.item_type_id),
        },
        message=reason,
    )


@blueprint.route("/settings/barcodes", methods=["GET", "POST"])
@allow(Access.STAFF)
async def barcode_sequence():
    """The sequence new copies' barcodes come from (prefix + next number)."""
    db = get_db()
    if request.method == "GET":
        return await _form(
            "collection/barcodes.html",
            "collection/_barcodes_form.html",
            {},
            values=await collection.barcode_sequence(db),
        )
    form = await request.form
    values, errors = collection.check_barcode_sequence_form(form)
    if not errors:
        try:
            await collection.set_barcode_sequence(db, values)
        except collection.Conflict as conflict:
            errors[conflict.field] = conflict.message
        else:
            if not htmx.is_htmx():
                return redirect(url_for("collection.barcode_sequence"), 303)
    return await _form(
        "collection/barcodes.html",
        "collection/_barcodes_form.html",
        errors,
        values=dict(form),
        saved=not errors,
    )


def _page_number(raw: str | None) -> int:
    try:
        return min(max(int(raw or 1), 1), MAX_PAGE)
    except ValueError:
        return 1


@blueprint.get("/patrons")
@allow(Access.STAFF)
async def patrons():
    text = (request.args.get("q") or "").strip()[:200]
    db = get_db()
    result = await collection.find_patrons(db, text, _page_number(request.args.get("page")))
    # Only the whole page lists clashes: the live search's fragment does not need them.
    clashes = [] if htmx.is_htmx() else await db.read(codes.existing_clashes)
    return await htmx.render_page_or_fragment(
        "collection/patrons.html",
        "collection/_patron_list.html",
        result=result,
        q=text,
        clashes=clashes,
    )


def _roles_for_editor() -> tuple[str, ...]:
    user = signed_in_user()
    return validation.ROLES if user.is_admin else tuple(r for r in validation.ROLES if r != "Admin")


async def _admin_only():
    return await htmx.render_error(403, "Only an admin may make or change an Admin account.")


@blueprint.route("/patrons/new", methods=["GET", "POST"])
@allow(Access.STAFF)
async def new_patron():
    context = {
        "patron_id": None,
        "roles": _roles_for_editor(),
        "categories": await get_db().read(rule_settings.load_categories),
    }
    if request.method == "GET":
        return await _form(
            "collection/patron_form.html",
            "collection/_patron_form.html",
            {},
            values={"role": "Student", "active": True},
            **context,
        )
    form = await request.form
    values, errors = collection.check_patron_form(form)
    if values.get("role") == "Admin" and not signed_in_user().is_admin:
        return await _admin_only()
    if not errors:
        try:
            await collection.create_patron(get_db(), values)
        except collection.Conflict as conflict:
            errors[conflict.field] = conflict.message
        else:
            return htmx.redirect(
                url_for("collection.patrons", q=values["card_number"] or values["name"])
            )
    return await _form(
        "collection/patron_form.html",
        "collection/_patron_form.html",
        errors,
        values={**dict(form), "active": "active" in form},
        **context,
    )


@blueprint.route("/patrons/<int:user_id>/edit", methods=["GET", "POST"])
@allow(Access.STAFF)
async def edit_patron(user_id: int):
    patron = await get_db().read(get_patron, user_id)
    if patron is None:
        abort(404)
    context = {
        "patron_id": user_id,
        "roles": _roles_for_editor(),
        "categories": await get_db().read(rule_settings.load_categories),
    }
    if patron.role == "Admin" and not signed_in_user().is_admin:
        return await _admin_only()
    if request.method == "GET":
        return await _form(
            "collection/patron_form.html",
            "collection/_patron_form.html",
            {},
            values=patron.form_values(),
            **context,
        )
    form = await request.form
    values, errors = collection.check_patron_form(form)
    if values.get("role") == "Admin" and not signed_in_user().is_admin:
        return await _admin_only()
    if not errors:
        try:
            await collection.update_patron(get_db(), user_id, values)
        except collection.Conflict as conflict:
            errors[conflict.field] = conflict.message
        else:
            if not values["active"]:
                # A closed account keeps no holds (docs/privacy.md); idempotent.
                settings = get_settings()
                await get_db().write(
                    deactivation.release_holds,
                    actor_id=signed_in_user().user_id,
                    today=library_today(settings),
                    library_name=settings.library_name,
                    user_ids=[user_id],
                )
            return htmx.redirect(
                url_for("collection.patrons", q=values["card_number"] or values["name"])
            )
    return await _form(
        "collection/patron_form.html",
        "collection/_patron_form.html",
        errors,
        values={**dict(form), "active": "active" in form},
        **context,
    )


@blueprint.post("/patrons/<int:user_id>/delete")
@allow(Access.STAFF)
async def delete_patron(user_id: int):
    patron = await get_db().read(get_patron, user_id)
    if patron is None:
        abort(404)
    if patron.role == "Admin" and not signed_in_user().is_admin:
        return await _admin_only()
    reason = await collection.delete_patron(get_db(), user_id)
    if reason is None:
        return htmx.redirect(url_for("collection.patrons"))
    if htmx.is_htmx():
        return await htmx.render_error(409, reason)
    return await htmx.render_page_or_fragment(
        "collection/patron_form.html",
        "collection/_patron_form.html",
        status=409,
        errors={},
        values=patron.form_values(),
        patron_id=user_id,
        roles=_roles_for_editor(),
        categories=await get_db().read(rule_settings.load_categories),
        message=reason,
    )
