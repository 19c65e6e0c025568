"""Single sign-on with the school's accounts: /login/sso starts it, the provider answers at
/login/sso/callback. The protocol is in ``webapp.oidc``; who may sign in how in
``webapp.sign_in_rules``; the account found, linked or created in
``webapp.models.credentials``.
"""

from __future__ import annotations

import hmac

from quart import Blueprint, abort, current_app, flash, request, session, url_for

from webapp import htmx, sign_in_rules
from webapp.access import Access, allow
from webapp.models import accounts, credentials
from webapp.oidc import Provider, SsoError
from webapp.request_context import get_db, get_settings
from webapp.views.password import after_sign_in

blueprint = Blueprint("sso", __name__)


def _provider() -> Provider:
    provider = current_app.extensions.get("shelfmark.oidc")
    if provider is None:
        abort(404)
    return provider


def _callback_url() -> str:
    return url_for("sso.callback", _external=True)


async def _refuse(message: str, status: int = 400):
    return await htmx.render_error(status, f"{message} You can also sign in with a password.")


@blueprint.get("/login/sso")
@allow(Access.PUBLIC)
async def start():
    try:
        started = await _provider().start(_callback_url())
    except SsoError as error:
        return await _refuse(str(error), 502)
    session["sso"] = {
        "state": started.state,
        "nonce": started.nonce,
        "verifier": started.code_verifier,
    }
    return htmx.redirect(started.url, 302)


@blueprint.get("/login/sso/callback")
@allow(Access.PUBLIC)
async def callback():
    provider = _provider()
    # Forgotten at once: an answer from the provider is good for one sign-in only.
    pending = session.pop("sso", None)
    state = request.args.get("state", "")
    if not isinstance(pending, dict) or not hmac.compare_digest(
        str(pending.get("state", "")), state
    ):
        return await _refuse(
            "This sign-in has expired or was already used. Start again from the sign-in page."
        )
    if "error" in request.args or not request.args.get("code"):
        return await _refuse("The school sign-in was cancelled or refused.")
    try:
        identity = await provider.finish(
            code=request.args["code"][:2048],
            redirect_uri=_callback_url(),
            code_verifier=pending["verifier"],
            nonce=pending["nonce"],
        )
    except SsoError as error:
        return await _refuse(str(error))
    settings = get_settings()
    db = get_db()
    if not sign_in_rules.domain_allowed(identity.email, settings.oidc_allowed_domains):
        await db.write(credentials.log_failed_sign_in, identity.email, "domain not allowed")
        return await _refuse(
            f"Accounts of {sign_in_rules.email_domain(identity.email)} cannot sign in here.", 403
        )
    match = await db.write(
        credentials.sso_account,
        issuer=identity.issuer,
        subject=identity.subject,
        email=identity.email,
        name=identity.name,
        create_role=sign_in_rules.role_for_new_account(settings.oidc_create_role),
    )
    if match.user_id is None or match.role is None:
        return await _refuse(
            f"No active library account uses {identity.email}. Ask a librarian to add you.", 403
        )
    if not sign_in_rules.sso_sign_in_allowed(match.role, settings.staff_sign_in):
        await db.write(credentials.log_failed_sign_in, identity.email, "staff must use a password")
        return await _refuse("Staff sign in with their library password here.", 403)
    user = await db.read(credentials.active_user, match.user_id)
    if user is None:
        return await _refuse("This library account is not active.", 403)
    old = session.pop("sid", None)
    if old:
        await accounts.end_session(db, old)
    session.clear()
    session["sid"] = await accounts.start_session(db, user)
    session.permanent = True
    await after_sign_in(user, "single sign-on")
    await flash(f"Signed in as {user.name}.", "success")
    home = "dashboard.dashboard" if user.is_staff else "circulation.account"
    return htmx.redirect(url_for(home), 303)
