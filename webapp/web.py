"""Small helpers the views share: the database, the current user, page-or-fragment rendering."""

from __future__ import annotations

import secrets

from quart import current_app, g, render_template, request, session, url_for

from webapp.config import Settings
from webapp.db import Database
from webapp.models.accounts import User
from webapp.search_cache import SearchCache


def get_db() -> Database:
    return current_app.extensions["shelfmark.db"]


def get_settings() -> Settings:
    return current_app.extensions["shelfmark.settings"]


def get_search_cache() -> SearchCache:
    return current_app.extensions["shelfmark.search_cache"]


def current_user() -> User | None:
    return g.get("user")


def is_htmx() -> bool:
    """A request made by htmx that wants a fragment.

    A history-restore request (Back after htmx's cache missed) and a boosted
    link or form (hx-boost swaps the whole body) want the whole page.
    """
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-History-Restore-Request") != "true"
        and headers.get("HX-Boosted") != "true"
    )


def sign_in_url() -> str:
    """The sign-in page, coming back afterwards to the page the reader was on.

    Not from the search page without a query, the front page: a sign-in there
    lands on the reader's own home (the dashboard, or their loans). Not from the
    sign-in page itself, nor after a form was sent.
    """
    here = request.full_path.rstrip("?")
    if (
        request.method != "GET"
        or request.endpoint in (None, "auth.login")
        or here == url_for("catalogue.search")
    ):
        return url_for("auth.login")
    return url_for("auth.login", next=here)


def csrf_token() -> str:
    """This browser session's CSRF token, created on first use."""
    token = session.get("csrf")
    if token is None:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


async def render_page_or_fragment(
    page_template: str, fragment_template: str, status: int = 200, **context
):
    """The full page, or on an htmx request just the fragment the page includes.

    ``Vary: HX-Request`` tells caches the two answers differ, so Back never
    shows a bare fragment as a page.
    """
    if is_htmx():
        return await render_fragment(fragment_template, status, **context)
    body = await render_template(page_template, **context)
    return body, status, {"Vary": "HX-Request"}


async def render_fragment(fragment_template: str, status: int = 200, **context):
    """A fragment for htmx, followed by any flashed messages as an out-of-band swap.

    Views that answer htmx with a fragment of their own (a 422 form, a desk
    message) use this instead of ``render_template`` so that a message from
    ``await quart.flash(text, "success" | "error" | "info")`` reaches the page's
    #flash live region; a full page shows the same messages itself (base.html).
    """
    body = await render_template(fragment_template, **context)
    body += await render_template("layout/_flash.html", oob=True)
    return body, status, {"Vary": "HX-Request"}
