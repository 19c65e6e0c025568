"""Passwords: "Forgot your password?", the emailed links, Change password, and what staff do
for a patron (send a sign-in link, set a temporary password, invite a whole group).

The rules of a good password are in ``webapp.passwords``; links, invitations and
the forgot-password throttle in ``webapp.models.sign_in_tokens``; the account's
password, sessions and events in ``webapp.models.credentials``. Emails are sent
at once by ``webapp.send_now`` (through the outbox, exactly once).
"""

from __future__ import annotations

import asyncio
import secrets

from quart import Blueprint, abort, current_app, flash, g, request, session, url_for

from webapp import htmx, passwords
from webapp.access import Access, allow
from webapp.clock import utc_now
from webapp.models import accounts, credentials, patrons, sign_in_tokens
from webapp.request_context import get_db, get_settings, signed_in_user
from webapp.send_now import SendNow

blueprint = Blueprint("password", __name__)

DEAD_LINKS = {
    "unknown": (
        404,
        "This link is not valid. Check that the whole address was copied from the email.",
    ),
    "expired": (
        410,
        "This link has expired. A link to reset a password lasts one hour, an invitation "
        "seven days. Ask for a new one below, or at the library desk.",
    ),
    "used": (
        410,
        "This link has already been used. If you did not use it, ask for a new one below.",
    ),
    "superseded": (
        410,
        "A newer link was sent for this account after this one: use the link in the latest email.",
    ),
}


def _send_now() -> SendNow:
    return current_app.extensions["shelfmark.send_now"]


def _client_address() -> str:
    return request.remote_addr or "unknown"


def _email_field(form) -> str:
    return (form.get("email") or "").strip()[:254]


# Signing in: the hooks the login and single sign-on views call.


async def after_sign_in(user: accounts.User, how: str) -> None:
    """A session has just started for ``user``: log it, and ask for a new password first if
    staff set a temporary one."""
    db = get_db()
    await db.write(credentials.log, "sign_in", user_id=user.user_id, detail=how)
    if how == "password" and await db.read(credentials.must_change_password, user.user_id):
        session["must_change_password"] = True


async def failed_sign_in(email: str) -> None:
    """A wrong email or password: logged on the account of that email, if any."""
    await get_db().write(credentials.log_failed_sign_in, email, "wrong password")


ALWAYS_REACHABLE = frozenset(
    {"password.change_password", "password.change_password_submit", "auth.logout", "static"}
)


async def require_password_change():
    """Before any other page, a temporary password must be replaced (before_request hook)."""
    if (
        g.get("user") is None
        or not session.get("must_change_password")
        or request.endpoint in ALWAYS_REACHABLE
    ):
        return None
    return htmx.redirect(url_for("password.change_password"), 303)


# Forgot your password?


@blueprint.get("/password/forgot")
@allow(Access.PUBLIC)
async def forgot_password():
    return await htmx.render_page_or_fragment(
        "account/forgot_password.html", "account/_forgot_password.html", email=""
    )


@blueprint.post("/password/forgot")
@allow(Access.PUBLIC)
async def forgot_password_submit():
    form = await request.form
    email = _email_field(form)
    if "@" not in email:
        return await htmx.render_page_or_fragment(
            "account/forgot_password.html",
            "account/_forgot_password.html",
            422,
            email=email,
            error="Enter the email address of your library account.",
        )
    db = get_db()
    now = utc_now()
    if await db.read(sign_in_tokens.address_throttled, _client_address(), now):
        return await htmx.render_page_or_fragment(
            "account/forgot_password.html",
            "account/_forgot_password.html",
            429,
            email=email,
            error="Too many requests from your network. Please wait 15 minutes and try again, "
            "or ask a librarian.",
        )
    token = sign_in_tokens.new_token()
    await db.write(
        sign_in_tokens.request_reset,
        email=email,
        address=_client_address(),
        token=token,
        link=url_for("password.reset_link", token=token, _external=True),
        library_name=get_settings().library_name,
        now=now,
    )
    _send_now().wake()
    return await htmx.render_page_or_fragment(
        "account/forgot_password.html", "account/_forgot_password.html", email=email, sent=True
    )


# The emailed links


async def _link_page(token: str, status: int = 200, **context):
    link = await get_db().read(sign_in_tokens.look_up, token[:200], utc_now())
    if link.problem is not None:
        status, message = DEAD_LINKS[link.problem]
        return await htmx.render_page_or_fragment(
            "account/link_problem.html", "account/_link_problem.html", status, message=message
        )
    return await htmx.render_page_or_fragment(
        "account/set_password.html",
        "account/_set_password.html",
        status,
        link=link,
        action=request.path,
        **context,
    )


async def _use_link(token: str):
    form = await request.form
    password = (form.get("new_password") or "")[: passwords.MAX_LENGTH + 1]
    db = get_db()
    link = await db.read(sign_in_tokens.look_up, token[:200], utc_now())
    if link.problem is not None:
        return await _link_page(token)
    problem = passwords.problem(password, email=link.email, name=link.name)
    if problem is not None:
        return await _link_page(token, 422, error=problem)
    password_hash = await asyncio.to_thread(accounts.hash_password, password)
    link = await db.write(sign_in_tokens.use, token[:200], password_hash, utc_now())
    if link.problem is not None:
        return await _link_page(token)
    # Every session of the account ended, this browser's too if it was signed in.
    old = session.pop("sid", None)
    if old:
        await accounts.end_session(db, old)
    session.clear()
    await flash("Your password is set. Sign in with it now.", "success")
    return htmx.redirect(url_for("auth.login"))


@blueprint.get("/password/reset/<token>")
@allow(Access.PUBLIC)
async def reset_link(token: str):
    return await _link_page(token)


@blueprint.post("/password/reset/<token>")
@allow(Access.PUBLIC)
async def reset_link_submit(token: str):
    return await _use_link(token)


@blueprint.get("/password/welcome/<token>")
@allow(Access.PUBLIC)
async def invitation_link(token: str):
    return await _link_page(token)


@blueprint.post("/password/welcome/<token>")
@allow(Access.PUBLIC)
async def invitation_link_submit(token: str):
    return await _use_link(token)


# Change password (My account)


async def _change_form(status: int = 200, **context):
    user = signed_in_user()
    has_password = await get_db().read(credentials.password_hash, user.user_id) is not None
    return await htmx.render_page_or_fragment(
        "account/change_password.html",
        "account/_change_password.html",
        status,
        has_password=has_password,
        must_change=bool(session.get("must_change_password")),
        **context,
    )


@blueprint.get("/account/password")
@allow(Access.LOGGED_IN)
async def change_password():
    return await _change_form()


@blueprint.post("/account/password")
@allow(Access.LOGGED_IN)
async def change_password_submit():
    user = signed_in_user()
    form = await request.form
    current = (form.get("current_password") or "")[: passwords.MAX_LENGTH]
    new = (form.get("new_password") or "")[: passwords.MAX_LENGTH + 1]
    db = get_db()
    stored = await db.read(credentials.password_hash, user.user_id)
    if stored is None:
        return await _change_form(
            422, error="Your account has no password yet: use “Forgot your password?”."
        )
    if not await asyncio.to_thread(passwords.matches, stored, current):
        await db.write(
            credentials.log, "sign_in_failed", user_id=user.user_id, detail="wrong current password"
        )
        return await _change_form(422, error="Your current password is not right.")
    problem = passwords.problem(new, email=user.email, name=user.name)
    if problem is None and new == current:
        problem = "Choose a password different from the current one."
    if problem is not None:
        return await _change_form(422, error=problem)
    new_hash = await asyncio.to_thread(accounts.hash_password, new)
    await db.write(
        credentials.change_password,
        user.user_id,
        new_hash,
        sign_in_tokens.token_hash(session.get("sid", "")),
    )
    session.pop("must_change_password", None)
    await flash("Your password is changed. Your other sessions are signed out.", "success")
    return htmx.redirect(url_for("circulation.account"))


# What staff do for a patron


def _link_prefix(endpoint: str) -> str:
    """The address of a link without its token (the token is appended per patron)."""
    return url_for(endpoint, token="T", _external=True)[:-1]


async def _patron_or_404(user_id: int) -> patrons.Patron:
    patron = await get_db().read(patrons.get_patron, user_id)
    if patron is None:
        abort(404)
    return patron


@blueprint.post("/patrons/<int:user_id>/sign-in-link")
@allow(Access.STAFF)
async def send_sign_in_link(user_id: int):
    patron = await _patron_or_404(user_id)
    if not patron.email or not patron.active:
        return await htmx.render_error(
            422,
            f"{patron.name} has no email address or is not active: add one, or set a "
            "temporary password.",
        )
    await get_db().write(
        sign_in_tokens.invite,
        user_ids=[user_id],
        actor_id=signed_in_user().user_id,
        tokens=[sign_in_tokens.new_token()],
        link_prefix=_link_prefix("password.invitation_link"),
        library_name=get_settings().library_name,
        batch="one",
        now=utc_now(),
    )
    _send_now().wake()
    await flash(f"A sign-in link is on its way to {patron.email}.", "success")
    return htmx.redirect(url_for("circulation.patron", user_id=user_id))


@blueprint.post("/patrons/<int:user_id>/temporary-password")
@allow(Access.STAFF)
async def set_temporary_password(user_id: int):
    patron = await _patron_or_404(user_id)
    actor = signed_in_user()
    back = url_for("circulation.patron", user_id=user_id)
    if patron.role != "Student" and not actor.is_admin:
        return await htmx.render_error(403, "Only an admin may set a staff account's password.")
    form = await request.form
    password = (form.get("temporary_password") or "")[: passwords.MAX_LENGTH + 1]
    problem = passwords.problem(password, email=patron.email, name=patron.name)
    if problem is not None:
        return await htmx.render_error(422, f"Temporary password not set: {problem}")
    password_hash = await asyncio.to_thread(accounts.hash_password, password)
    if not await get_db().write(
        credentials.set_temporary_password, user_id, password_hash, actor.user_id
    ):
        return await htmx.render_error(422, "Only an active account can be given a password.")
    await flash(
        f"Temporary password set. {patron.name} must choose a new one when signing in.",
        "success",
    )
    return htmx.redirect(back)


def _group_arg(raw: str | None) -> str | None:
    group = (raw or "").strip()[:100]
    return group or None


@blueprint.get("/patrons/invite")
@allow(Access.STAFF)
async def invite():
    db = get_db()
    group = _group_arg(request.args.get("group"))
    return await htmx.render_page_or_fragment(
        "collection/invite.html",
        "collection/_invite_preview.html",
        groups=await db.read(sign_in_tokens.groups),
        group=group,
        preview=await db.read(sign_in_tokens.invitation_preview, group),
    )


@blueprint.post("/patrons/invite")
@allow(Access.STAFF)
async def invite_submit():
    form = await request.form
    group = _group_arg(form.get("group"))
    batch = secrets.token_hex(6)
    count = await get_db().write(
        sign_in_tokens.invite_group,
        group=group,
        actor_id=signed_in_user().user_id,
        link_prefix=_link_prefix("password.invitation_link"),
        library_name=get_settings().library_name,
        batch=batch,
        now=utc_now(),
    )
    _send_now().wake()
    await flash(f"{count} invitation{'s' if count != 1 else ''} queued.", "success")
    return htmx.redirect(url_for("password.invite_progress", batch=batch))


@blueprint.get("/patrons/invite/<batch>")
@allow(Access.STAFF)
async def invite_progress(batch: str):
    if not batch.isalnum() or len(batch) > 24:
        abort(404)
    progress = await get_db().read(sign_in_tokens.batch_progress, batch)
    return await htmx.render_page_or_fragment(
        "collection/invite_progress.html",
        "collection/_invite_progress.html",
        batch=batch,
        progress=progress,
    )
