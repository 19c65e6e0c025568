"""The catalogue: live search and book pages, open to everyone."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, abort, redirect, request, url_for

from webapp import htmx, search_query
from webapp.access import Access, allow
from webapp.models import catalogue, hold_shelf
from webapp.request_context import (
    current_user,
    get_catalogue_words,
    get_db,
    get_search_cache,
)

blueprint = Blueprint("catalogue", __name__)

PER_PAGE = 20
MAX_PAGE = 50


def _page_number(raw: str | None) -> int:
    """The requested results page; anything odd means the first page."""
    try:
        page = int(raw or 1)
    except ValueError:
        return 1
    return min(max(page, 1), MAX_PAGE)


@blueprint.get("/")
@allow(Access.PUBLIC)
async def home():
    return redirect(url_for("catalogue.search"))


@blueprint.get("/search")
@allow(Access.PUBLIC)
async def search():
    """The search page, or on an htmx request just the results fragment.

    An exact ISBN or copy barcode submitted with Enter goes straight to the
    book; while typing it is shown as the only result instead, so the page
    never jumps away under the user's fingers.
    """
    db = get_db()
    query = search_query.parse(request.args.get("q"))
    try:
        filters = search_query.parse_filters(request.args)
    except search_query.BadFilter as error:
        return await htmx.render_error(400, str(error))
    # A plain form sends every filter, set or not: the address is made the one
    # a link to the same search has (/search?q=the), so it stays short to share.
    left_at_default = [
        name
        for name in search_query.FILTER_PARAMETERS
        if name in request.args and name not in filters.params()
    ]
    if left_at_default and not htmx.is_htmx():
        kept: dict[str, Any] = {
            name: value for name, value in request.args.items() if name not in left_at_default
        }
        return redirect(url_for("catalogue.search", **kept), 302)
    found = await catalogue.lookup(
        db,
        query,
        _page_number(request.args.get("page")),
        PER_PAGE,
        get_search_cache(),
        get_catalogue_words(),
        filters,
    )
    if found.direct_hit is not None and request.args.get("go") != "0":
        target = url_for("catalogue.book", book_id=found.direct_hit)
        submitted = not htmx.is_htmx() or request.headers.get("HX-Trigger") == "search-form"
        if submitted:
            return htmx.redirect(target, 302)
    suggestions = None
    if query.is_empty:
        suggestions = {
            "Most borrowed": await catalogue.most_borrowed(db),
            "New in the library": await catalogue.recent_arrivals(db),
        }
    return await htmx.render_page_or_fragment(
        "catalogue/search.html",
        "catalogue/_search_results.html",
        page=found.page,
        suggestions=suggestions,
        filters=filters,
        sorts=search_query.SORTS,
        languages=await catalogue.languages(db) if not htmx.is_htmx() else [],
        item_types=await catalogue.item_type_names(db) if not htmx.is_htmx() else [],
    )


@blueprint.get("/series")
@allow(Access.PUBLIC)
async def series():
    """The books of a series ("Harry Potter"), in their order in it."""
    name = (request.args.get("name") or "").strip()
    if not name or len(name) > 300:
        return await htmx.render_error(400, "Which series? Follow a series link from a book.")
    books = await catalogue.series_books(get_db(), name)
    if not books:
        abort(404)
    return await htmx.render_page_or_fragment(
        "catalogue/series.html", "catalogue/_series.html", name=name, books=books
    )


@blueprint.get("/books/<int:book_id>")
@allow(Access.PUBLIC)
async def book(book_id: int):
    db = get_db()
    found = await catalogue.get_book(db, book_id)
    if found is None:
        abort(404)
    copies = await catalogue.copies_of(db, book_id)
    availability = (await catalogue.availability_for(db, [book_id]))[book_id]
    user = current_user()
    queue = await db.read(hold_shelf.title_queue, book_id, user.user_id if user else None)
    return await htmx.render_page_or_fragment(
        "catalogue/book.html",
        "catalogue/_book.html",
        book=found,
        copies=copies,
        availability=availability,
        queue=queue,
    )
