"""What views and templates read from the running app and the current request.

The database, the settings and the search cache live on ``app.extensions`` (opened at
serving time); the signed-in user on ``g``; the CSRF token in the session. How to answer
htmx and plain requests is in ``webapp.htmx``.
"""

from __future__ import annotations

import secrets

from quart import current_app, g, request, session, url_for

from webapp.config import Settings
from webapp.db import Database
from webapp.models.accounts import User
from webapp.models.search_vocabulary import CatalogueWords
from webapp.search_cache import SearchCache


def get_db() -> Database:
    return current_app.extensions["shelfmark.db"]


def get_settings() -> Settings:
    return current_app.extensions["shelfmark.settings"]


def get_search_cache() -> SearchCache:
    return current_app.extensions["shelfmark.search_cache"]


def get_catalogue_words() -> CatalogueWords:
    """The process's spelling vocabulary (webapp/spelling.py), read at start-up."""
    return current_app.extensions["shelfmark.catalogue_words"]


def current_user() -> User | None:
    """Who is signed in, or None (public pages)."""
    return g.get("user")


def signed_in_user() -> User:
    """Who is signed in, on a route whose policy requires someone (``@allow`` other than
    PUBLIC): the access hook has already turned everyone else away."""
    user = g.get("user")
    if user is None:
        raise RuntimeError(f"{request.endpoint} needs a signed-in user but has a public policy")
    return user


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
