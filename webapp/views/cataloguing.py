"""Cataloguing: ISBN lookup, the box of new books, covers, label sheets and library cards.

The lookup service (``webapp.isbn_lookup.IsbnLookup``) and the covers folder
(``webapp.covers.CoverStore``) are opened at serving time and kept on
``app.extensions`` (``install``). PDFs and images are made in a thread, never
on the event loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass

from quart import Blueprint, Quart, Response, abort, current_app, flash, redirect, request, url_for

from webapp import covers, htmx, labels, library_cards, shelf_marks, validation
from webapp.access import Access, allow
from webapp.body_limits import accepts_upload
from webapp.config import Settings
from webapp.isbn_lookup import IsbnLookup, LookupResult, Outcome
from webapp.models import catalogue, cataloguing, collection
from webapp.models.patrons import get_patron
from webapp.request_context import get_db, get_settings, signed_in_user
from webapp.search_query import format_isbn

blueprint = Blueprint("cataloguing", __name__)

MAX_SELECTED = 3000


def install(app: Quart, settings: Settings) -> None:
    """Open the lookup service's HTTP client at serving time and close it after."""

    @app.before_serving
    async def open_cataloguing() -> None:
        app.extensions["shelfmark.isbn_lookup"] = IsbnLookup(settings)
        app.extensions["shelfmark.covers"] = covers.store_for(settings.database)

    @app.after_serving
    async def close_cataloguing() -> None:
        await app.extensions.pop("shelfmark.isbn_lookup").aclose()


def _lookup_service() -> IsbnLookup:
    return current_app.extensions["shelfmark.isbn_lookup"]


def _cover_store() -> covers.CoverStore:
    return current_app.extensions["shelfmark.covers"]


def fetch_cover_later(book_id: int) -> None:
    """Ask Open Library for the new book's cover after the answer has gone out."""
    current_app.add_background_task(
        covers.fetch_once, get_db(), _lookup_service(), _cover_store(), book_id
    )


def record_values(result: LookupResult) -> dict:
    """The "New book" form's values from a lookup (just the ISBN when nothing was found)."""
    values: dict = {"isbn": format_isbn(result.isbn13), "copies": 1}
    record = result.record
    if record is not None:
        values.update({key: value for key, value in asdict(record).items() if key in _FORM_FIELDS})
        values["shelf_mark"] = shelf_marks.suggest(record.dewey, record.subjects, record.author)
    return values


_FORM_FIELDS = ("title", "author", "series", "subjects", "publisher", "year", "language", "pages")


@dataclass(frozen=True)
class Prefill:
    """What "New book" opens with: the form's values, or the catalogued book to go to."""

    values: dict
    errors: dict
    lookup: LookupResult | None = None
    existing_book_id: int | None = None


async def isbn_prefill(raw: str) -> Prefill:
    """The "New book" form for ``/books/new?isbn=…``: prefilled from the lookup, or the
    book to go to when the ISBN is catalogued already (with a message offering a copy)."""
    try:
        isbn13 = validation.isbn(raw)
    except ValueError as error:
        return Prefill({"isbn": raw[:40], "copies": 1}, {"isbn": str(error)})
    if isbn13 is None:
        return Prefill({"copies": 1}, {})
    existing = await catalogue.find_book_by_isbn(get_db(), isbn13)
    if existing is not None:
        await flash(
            f"ISBN {format_isbn(isbn13)} is already in the catalogue: this is the book. "
            "Add a copy of it here.",
            "info",
        )
        return Prefill({}, {}, existing_book_id=existing)
    result = await _lookup_service().lookup(isbn13)
    return Prefill(record_values(result), {}, result)


# --- covers ---------------------------------------------------------------------------


@blueprint.get("/covers/<int:book_id>-<size>.jpg")
@allow(Access.PUBLIC)
async def cover_image(book_id: int, size: str):
    if size not in covers.SIZES:
        abort(404)
    data = await asyncio.to_thread(_cover_store().read, book_id, size)
    if data is None:
        abort(404)
    # The address carries the cover's version (?v=), so a cached copy never goes stale.
    return Response(
        data,
        mimetype="image/jpeg",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


async def _book_or_404(book_id: int) -> catalogue.Book:
    book = await catalogue.get_book(get_db(), book_id)
    if book is None:
        abort(404)
    return book


@blueprint.route("/books/<int:book_id>/cover", methods=["GET", "POST"])
@allow(Access.STAFF)
@accepts_upload
async def book_cover(book_id: int):
    """Upload a cover (any JPEG, PNG, WebP or GIF; checked and shrunk) or remove it."""
    book = await _book_or_404(book_id)
    error = None
    if request.method == "POST":
        form = await request.form
        if form.get("action") == "remove":
            await covers.remove_cover(get_db(), _cover_store(), book_id)
            await flash("The cover was removed.", "success")
            return redirect(url_for("cataloguing.book_cover", book_id=book_id), 303)
        upload = (await request.files).get("cover")
        data = upload.read(covers.MAX_UPLOAD_BYTES + 1) if upload else b""
        try:
            await covers.store_cover(get_db(), _cover_store(), book_id, data)
        except covers.CoverRefused as refused:
            error = f"That file cannot be a cover: {refused}"
        else:
            await flash("The new cover is saved.", "success")
            return redirect(url_for("cataloguing.book_cover", book_id=book_id), 303)
    return await htmx.render_page_or_fragment(
        "cataloguing/cover.html",
        "cataloguing/_cover_form.html",
        status=422 if error else 200,
        book=book,
        error=error,
    )


# --- the box of new books -------------------------------------------------------------


async def _box_page(status: int = 200, **context):
    entries = await get_db().read(cataloguing.open_box, signed_in_user().user_id)
    return await htmx.render_page_or_fragment(
        "cataloguing/box.html", "cataloguing/_box.html", status=status, entries=entries, **context
    )


@blueprint.get("/cataloguing/box")
@allow(Access.STAFF)
async def box():
    return await _box_page()


@blueprint.post("/cataloguing/box")
@allow(Access.STAFF)
async def box_scan():
    """One scanned ISBN: a copy of a catalogued book, or a new book from the lookup."""
    db = get_db()
    user = signed_in_user()
    raw = ((await request.form).get("isbn") or "").strip()
    try:
        isbn13 = validation.isbn(raw) if raw else None
        if isbn13 is None:
            raise ValueError("Scan or type the ISBN from the back cover.")
    except ValueError as error:
        return await _box_page(422, error=str(error), typed=raw[:40])
    existing = await catalogue.find_book_by_isbn(db, isbn13)
    if existing is not None:
        barcode = await cataloguing.add_copy_from_box(db, user.user_id, existing, isbn13)
        said = f"Another copy: barcode {barcode}."
    else:
        result = await _lookup_service().lookup(isbn13)
        if result.record is None:
            await cataloguing.note_unresolved(db, user.user_id, isbn13, result.outcome.value)
            said = f"{format_isbn(isbn13)}: {result.message}"
        else:
            found = record_values(result)
            book, errors = collection.check_book_form(
                {key: "" if value is None else str(value) for key, value in found.items()}
            )
            book["isbn"] = isbn13
            if errors:
                await cataloguing.note_unresolved(db, user.user_id, isbn13, Outcome.NOT_FOUND.value)
                said = f"{format_isbn(isbn13)}: the record found is incomplete, fill it in by hand."
            else:
                try:
                    book_id = await cataloguing.add_book_from_box(db, user.user_id, book)
                except collection.Conflict as conflict:
                    return await _box_page(409, error=conflict.message, typed=raw[:40])
                fetch_cover_later(book_id)
                said = f"New book: {book['title']}."
    if not htmx.is_htmx():
        await flash(said, "info" if said.endswith("by hand.") else "success")
        return redirect(url_for("cataloguing.box"), 303)
    return await _box_page(said=said)


@blueprint.post("/cataloguing/box/close")
@allow(Access.STAFF)
async def box_close():
    closed = await get_db().write(cataloguing.close_box, signed_in_user().user_id)
    await flash(f"Box closed: {closed} scans reviewed. Their labels wait in the queue.", "success")
    return htmx.redirect(url_for("cataloguing.label_queue"))


# --- labels ---------------------------------------------------------------------------


def _number(form, name: str, default: float, low: float, high: float) -> float:
    raw = (form.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"Type a number from {low:g} to {high:g}.") from None
    if not low <= value <= high:
        raise ValueError(f"Type a number from {low:g} to {high:g}.")
    return value


def _sheet_from(form) -> tuple[labels.Sheet | None, dict[str, str]]:
    """The chosen preset, or the custom grid typed; a message per field that is wrong."""
    name = form.get("sheet") or labels.DEFAULT_SHEET
    if name in labels.PRESETS:
        return labels.PRESETS[name], {}
    if name != "custom":
        return None, {"sheet": "Choose one of the sheets listed."}
    errors: dict[str, str] = {}
    numbers: dict[str, float] = {}
    for field, default, low, high in (
        ("rows", 7, 1, 40),
        ("columns", 3, 1, 10),
        ("margin_top", 10, 0, 60),
        ("margin_left", 7, 0, 60),
        ("gap_x", 2.5, 0, 30),
        ("gap_y", 0, 0, 30),
    ):
        try:
            numbers[field] = _number(form, field, default, low, high)
        except ValueError as error:
            errors[field] = str(error)
    if errors:
        return None, errors
    try:
        return labels.custom_sheet(
            form.get("page") or "A4",
            int(numbers["rows"]),
            int(numbers["columns"]),
            numbers["margin_top"],
            numbers["margin_left"],
            numbers["gap_x"],
            numbers["gap_y"],
        ), {}
    except ValueError as error:
        return None, {"sheet": str(error)}


def _pdf(data: bytes, filename: str) -> Response:
    return Response(
        data,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def _queue_page(status: int = 200, errors: dict | None = None, values: dict | None = None):
    sort = request.args.get("sort", "shelf_mark")
    sort = sort if sort in cataloguing.SORTS else "shelf_mark"
    queue = await get_db().read(cataloguing.label_queue, sort)
    return await htmx.render_page_or_fragment(
        "cataloguing/labels.html",
        "cataloguing/_label_queue.html",
        status=status,
        queue=queue,
        sort=sort,
        sheets=labels.PRESETS,
        kinds=labels.KINDS,
        errors=errors or {},
        values=values or {"sheet": labels.DEFAULT_SHEET, "start": 1, "kind": "both"},
    )


@blueprint.get("/labels")
@allow(Access.STAFF)
async def label_queue():
    return await _queue_page()


@blueprint.post("/labels/print")
@allow(Access.STAFF)
async def print_labels():
    """The PDF of the queue, of the copies ticked, or of the barcodes typed. The copies
    printed leave the queue; a copy printed again later is chosen by its barcode."""
    form = await request.form
    db = get_db()
    sheet, errors = _sheet_from(form)
    kind = form.get("kind") or "both"
    if kind not in labels.KINDS:
        errors["kind"] = "Choose which labels to print."
    try:
        start = int(_number(form, "start", 1, 1, sheet.per_page if sheet else 400))
    except ValueError as error:
        errors["start"] = str(error)
    typed = (form.get("barcodes") or "").replace(",", " ").split()[:MAX_SELECTED]
    ticked = [int(raw) for raw in form.getlist("copy") if raw.isdecimal()][:MAX_SELECTED]
    if typed:
        items, missing = await db.read(cataloguing.copies_by_barcodes, typed)
        if missing:
            shown = ", ".join(code[:64] for code in missing[:5])
            errors["barcodes"] = f"No copy has the barcode {shown}."
    elif ticked:
        items = await db.read(cataloguing.copies_by_ids, ticked)
    else:
        items = await db.read(cataloguing.label_queue)
    if not errors and not items:
        errors["barcodes"] = "There is nothing to print: the queue is empty and no copy is chosen."
    if errors or sheet is None:
        return await _queue_page(422, errors, dict(form))
    data = await asyncio.to_thread(
        labels.render, labels.labels_for(items, kind), sheet, get_settings().library_name, start
    )
    await db.write(cataloguing.labels_printed, [item.copy_id for item in items])
    return _pdf(data, "labels.pdf")


@blueprint.post("/labels/clear")
@allow(Access.STAFF)
async def clear_label_queue():
    """Empty the queue without printing: copies imported with labels already on them."""
    cleared = await get_db().write(cataloguing.clear_label_queue)
    await flash(f"{cleared} copies taken out of the print queue.", "success")
    return redirect(url_for("cataloguing.label_queue"), 303)


# --- library cards --------------------------------------------------------------------


@blueprint.get("/patrons/cards.pdf")
@allow(Access.STAFF)
async def group_cards():
    """Library cards for a class (``group``), or for every active patron with a card."""
    group = (request.args.get("group") or "").strip()[:100] or None
    holders = await get_db().read(cataloguing.card_holders, group)
    if not holders:
        return await htmx.render_error(404, "No active patron with a card number is in that class.")
    data = await asyncio.to_thread(library_cards.render, holders, get_settings().library_name)
    return _pdf(data, "library-cards.pdf")


@blueprint.get("/patrons/<int:user_id>/card.pdf")
@allow(Access.STAFF)
async def patron_card(user_id: int):
    if await get_db().read(get_patron, user_id) is None:
        abort(404)
    holders = await get_db().read(cataloguing.card_holders, None, user_id)
    if not holders or not library_cards.printable(holders[0].card_number):
        return await htmx.render_error(
            409, "This patron has no card number that can be printed: give them one first."
        )
    data = await asyncio.to_thread(library_cards.render, holders, get_settings().library_name)
    return _pdf(data, "library-card.pdf")
