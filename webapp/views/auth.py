"""Signing in and out."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from quart import Blueprint, flash, redirect, render_template, request, session, url_for

from webapp import sign_in_rules
from webapp.access import Access, allow
from webapp.models import accounts
from webapp.request_context import current_user, get_db, get_settings
from webapp.views import password as password_views

blueprint = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None (then sign-in goes home).

    Browsers drop tabs and newlines from a URL and read ``\\`` as ``/``, so
    ``/<tab>/evil.example`` or ``/\\evil.example`` would leave the site: any
    control or invisible formatting character, or a backslash, refuses the
    target outright (a CR or LF would also break the Location header). What
    remains must parse with no scheme and no host and start with exactly one ``/``.
    """
    if not target or "\\" in target:
        return None
    if any(unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp") for character in target):
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _home_for(user: accounts.User) -> str:
    """Where a sign-in lands: librarians on their dashboard, patrons on their loans."""
    return url_for("dashboard.dashboard" if user.is_staff else "circulation.account")


def _client_address() -> str:
    return request.remote_addr or "unknown"


@blueprint.get("/login")
@allow(Access.PUBLIC)
async def login():
    user = current_user()
    if user is not None:
        return redirect(_safe_next(request.args.get("next")) or _home_for(user))
    return await render_template("account/login.html", next=_safe_next(request.args.get("next")))


@blueprint.post("/login")
@allow(Access.PUBLIC)
async def login_submit():
    form = await request.form
    email = form.get("email", "").strip()[:254]
    password = form.get("password", "")[:1024]
    next_url = _safe_next(form.get("next"))
    db = get_db()

    async def refuse(message: str, status: int):
        page = await render_template(
            "account/login.html", next=next_url, email=email, error=message
        )
        return page, status

    if not email or not password:
        return await refuse("Enter your email address and password.", 422)
    user = await accounts.attempt_sign_in(db, email, password, _client_address())
    if isinstance(user, accounts.LoginRefusal):
        page, status = await refuse(user.message, 429)
        return page, status, {"Retry-After": str(user.retry_after_seconds)}
    if user is None:
        await password_views.failed_sign_in(email)
        return await refuse("That email and password do not match an active account.", 401)
    settings = get_settings()
    if not sign_in_rules.password_sign_in_allowed(
        user.role, settings.staff_sign_in, settings.oidc_enabled
    ):
        return await refuse("Staff sign in with the school account: use the button below.", 403)
    old_token = session.pop("sid", None)
    if old_token:
        await accounts.end_session(db, old_token)
    session.clear()
    session["sid"] = await accounts.start_session(db, user)
    session.permanent = True
    await password_views.after_sign_in(user, "password")
    await flash(f"Signed in as {user.name}.", "success")
    return redirect(next_url or _home_for(user))


@blueprint.post("/logout")
@allow(Access.PUBLIC)
async def logout():
    token = session.pop("sid", None)
    if token:
        await accounts.end_session(get_db(), token)
    session.clear()
    await flash("You have signed out.", "info")
    return redirect(url_for("catalogue.search"))
