"""How a view answers htmx and plain requests, in the spirit of django-htmx.

One URL serves the whole page, or on an htmx request just the fragment the page
includes; both carry ``Vary: HX-Request`` so that a cache (the browser's, on Back)
never serves one for the other. The answers:

- ``render_page_or_fragment``: a GET, or a form re-shown with its errors (422).
- ``render_fragment``: what htmx swaps in after an action; a plain form is
  redirected instead (post, then redirect), by the view.
- ``render_error``: the error page, or for htmx the message alone (layout/base.html's
  htmx config puts 4xx and 5xx answers other than 409, 422 and 429 in #flash).
- ``redirect``: after a successful POST, or to a page found by a search: htmx loads
  it whole through ``HX-Redirect`` (``client_redirect``), a plain request follows a
  redirect.
"""

from __future__ import annotations

import quart
from quart import render_template, request

VARY = {"Vary": "HX-Request"}


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


async def render_page_or_fragment(
    page_template: str, fragment_template: str, status: int = 200, **context
):
    """The full page, or on an htmx request just the fragment the page includes."""
    if is_htmx():
        return await render_fragment(fragment_template, status, **context)
    body = await render_template(page_template, **context)
    return body, status, VARY


async def render_fragment(fragment_template: str, status: int = 200, **context):
    """A fragment for htmx, followed by any flashed messages as an out-of-band swap.

    Views that answer htmx with a fragment of their own (a 422 form, a desk
    message) use this instead of ``render_template`` so that a message from
    ``await quart.flash(text, "success" | "error" | "info")`` reaches the page's
    #flash live region; a full page shows the same messages itself (layout/base.html).
    """
    body = await render_template("layout/_fragment.html", fragment=fragment_template, **context)
    return body, status, VARY


async def render_error(status: int, message: str):
    """The error page with ``message``, or for htmx the message alone, sent with ``status``."""
    template = "layout/_error.html" if is_htmx() else "layout/error.html"
    body = await render_template(template, status=status, message=message)
    return body, status, VARY


def client_redirect(url: str, status: int = 200):
    """Tell htmx to load ``url`` as a whole page (django-htmx's HttpResponseClientRedirect)."""
    return "", status, {"HX-Redirect": url, **VARY}


def redirect(url: str, status: int = 303):
    """Send the browser to ``url``: htmx by ``HX-Redirect``, a plain request by a
    redirect with ``status`` (303, See Other, after a POST)."""
    if is_htmx():
        return client_redirect(url)
    return quart.redirect(url, status)
