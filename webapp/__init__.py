"""Shelfmark: a library system for school and small public libraries."""

from __future__ import annotations

import asyncio
import errno
import hmac
import logging
from datetime import timedelta

from quart import Quart, current_app, g, redirect, request, session, url_for
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import IntegerConverter

from webapp import body_limits, health, htmx, metrics, request_context, write_failures
from webapp.access import Access, address_allowed, endpoint_policy, permits
from webapp.config import Settings
from webapp.db import Database, migrate
from webapp.models import accounts, search_vocabulary
from webapp.models.search_vocabulary import CatalogueWords
from webapp.oidc import Provider
from webapp.resources import MIGRATIONS, STATIC, TEMPLATES
from webapp.search_cache import SearchCache
from webapp.send_now import SendNow

log = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class RowIdConverter(IntegerConverter):
    """``<int:…>`` in a URL: a number beyond SQLite's 64-bit integers matches no route.

    Without the bound, /books/9223372036854775808 reaches the query and sqlite3
    raises OverflowError (a 500) instead of the 404 any other unknown id gets.
    """

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(url_map, *args, **kwargs)


class Shelfmark(Quart):
    """Quart, with a 404 for a static file name no file system can hold.

    Quart stats ``static/<name>`` as asked; a name over 255 bytes makes the
    operating system raise "File name too long", which would be a 500.
    """

    async def send_static_file(self, filename: str):
        try:
            return await super().send_static_file(filename)
        except OSError as error:
            if error.errno == errno.ENAMETOOLONG:
                raise NotFound() from error
            raise


def create_app(config: Settings | None = None) -> Quart:
    """Build the app. ``config`` defaults to the ``SHELFMARK_*`` environment."""
    settings = config or Settings.from_env()
    app = Shelfmark(
        __name__,
        template_folder=str(TEMPLATES),
        static_folder=str(STATIC),
        static_url_path="/static",
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="shelfmark_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(days=14),
        # The server-side session (Sessions.ExpiresAt) does not slide, so re-signing the
        # cookie on every request would buy nothing: it is sent when the session changes.
        SESSION_REFRESH_EACH_REQUEST=False,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
    )
    app.url_map.converters["int"] = RowIdConverter
    app.extensions["shelfmark.settings"] = settings
    app.extensions["shelfmark.search_cache"] = SearchCache(settings.search_cache_entries)
    app.extensions["shelfmark.catalogue_words"] = CatalogueWords()
    app.jinja_env.globals.update(
        csrf_token=request_context.csrf_token,
        current_user=request_context.current_user,
        sign_in_url=request_context.sign_in_url,
        library_name=settings.library_name,
        # The "Sign in with …" button shows only when single sign-on is configured.
        sso_name=settings.oidc_name if settings.oidc_enabled else None,
    )
    from webapp import templating

    templating.install(app, settings.zone)

    if settings.uses_development_secret:
        log.warning(
            "SHELFMARK_SECRET_KEY is not set: using the development key, not for production"
        )

    @app.before_serving
    async def open_database() -> None:
        db = Database(settings.database)
        await db.open()
        await db.run_sync(lambda conn: migrate(conn, MIGRATIONS))
        app.extensions["shelfmark.db"] = db
        app.extensions["shelfmark.send_now"] = SendNow(db, settings)
        if settings.oidc_enabled:
            app.extensions["shelfmark.oidc"] = Provider(settings)
        # The spelling vocabulary is read in the background (a second at a
        # million titles): the server answers at once, and a search that comes
        # first reads it itself (models/search_vocabulary.py).
        app.extensions["shelfmark.vocabulary_read"] = asyncio.create_task(
            db.read(search_vocabulary.load, app.extensions["shelfmark.catalogue_words"])
        )
        if settings.in_process_scheduler:
            from webapp.jobs import scheduler

            app.extensions["shelfmark.scheduler"] = await scheduler.start(db, settings)

    @app.after_serving
    async def close_database() -> None:
        if "shelfmark.scheduler" in app.extensions:
            app.extensions.pop("shelfmark.scheduler").shutdown(wait=False)
        await app.extensions.pop("shelfmark.send_now").close()
        await app.extensions.pop("shelfmark.vocabulary_read")
        await app.extensions.pop("shelfmark.db").close()

    from webapp.views import (
        admin_mail,
        auth,
        catalogue,
        cataloguing,
        circulation,
        collection,
        dashboard,
        holds,
        import_export,
        leavers,
        password,
        privacy,
        reports,
        rules,
        sso,
        stocktake,
        system,
    )

    for blueprint in (
        catalogue.blueprint,
        auth.blueprint,
        system.blueprint,
        circulation.blueprint,
        rules.blueprint,
        admin_mail.blueprint,
        collection.blueprint,
        import_export.blueprint,
        dashboard.blueprint,
        holds.blueprint,
        cataloguing.blueprint,
        password.blueprint,
        sso.blueprint,
        privacy.blueprint,
        leavers.blueprint,
        reports.blueprint,
        stocktake.blueprint,
    ):
        app.register_blueprint(blueprint)
    cataloguing.install(app, settings)
    _drop_flask_context_processors(app)

    _check_every_route_has_a_policy(app)
    body_limits.install(app)

    app.before_request(metrics.start_timer)
    app.before_request(body_limits.refuse_oversized_body)
    app.after_request(body_limits.close_after_refusal)
    app.before_request(_load_user)
    app.before_request(_enforce_access)
    app.before_request(_check_csrf)
    app.before_request(password.require_password_change)
    app.after_request(_add_security_headers)
    app.after_request(_forbid_storing_private_pages)
    app.after_request(metrics.count_response)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def _drop_flask_context_processors(app: Quart) -> None:
    """Remove the template context processor each blueprint inherits from Flask.

    Quart's blueprints start with Flask's synchronous default processor, which
    Quart runs in a worker thread on every render (about 70 µs of a page's CPU);
    it reads Flask's context variables, which Quart never sets, so it adds
    nothing but that thread hand-off. Quart's own (async) default processor
    stays on the app. The processor is found as what a new blueprint starts
    with, not by Flask's private name; tests/test_context_processors.py fails
    if a Flask or Quart upgrade changes what blueprints inherit.
    """
    from quart import Blueprint

    inherited = Blueprint("probe", __name__).template_context_processors[None]
    for name, processors in app.template_context_processors.items():
        if name is not None:
            processors[:] = [processor for processor in processors if processor not in inherited]


def _check_every_route_has_a_policy(app: Quart) -> None:
    missing = sorted(
        endpoint
        for endpoint in app.view_functions
        if endpoint_policy(app.view_functions, endpoint) is None
    )
    if missing:
        raise RuntimeError(f"routes without an access policy (@allow): {', '.join(missing)}")


async def _load_user() -> None:
    g.user = None
    token = session.get("sid")
    if token:
        g.user = await accounts.session_user(request_context.get_db(), token)
        if g.user is None:
            session.pop("sid", None)


async def _enforce_access():
    if request.url_rule is None or request.endpoint is None:
        return None
    access = endpoint_policy(current_app.view_functions, request.endpoint)
    if access is None:  # create_app refuses to start with such a route
        raise RuntimeError(f"no access policy for {request.endpoint}")
    user = g.user
    if permits(access, user.role if user else None):
        return None
    if access is Access.STAFF_OR_MONITOR and address_allowed(
        request.remote_addr, request_context.get_settings().metrics_allow
    ):
        return None
    if user is None:
        login_url = url_for("auth.login", next=request.full_path.rstrip("?"))
        if htmx.is_htmx():
            return htmx.client_redirect(login_url, 401)
        return redirect(login_url)
    return await htmx.render_error(403, "You do not have access to this page.")


async def _check_csrf():
    """Refuse state-changing requests without this session's token or from another site.

    htmx sends the token in the X-CSRF-Token header (set from a meta tag by
    static/shelfmark.js); plain forms send it in a hidden csrf_token field. A
    request no route accepts (an unknown address, or a method the page does not
    take) changes nothing, so it gets its own answer, 404 or 405, instead.
    """
    if request.method not in UNSAFE_METHODS or request.routing_exception is not None:
        return None
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return await htmx.render_error(403, "Requests from other sites are refused.")
    expected = session.get("csrf")
    sent = request.headers.get("X-CSRF-Token")
    if sent is None:
        form = await request.form
        sent = form.get("csrf_token")
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        return await htmx.render_error(
            400,
            "This form has expired or was not sent from Shelfmark. Reload the page and try again.",
        )
    return None


# Async, like every hook here: Quart runs a synchronous hook in a worker thread.
async def _add_security_headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def _forbid_storing_private_pages(response):
    """``Cache-Control: no-store`` on whatever depends on who is signed in.

    That is every answer to a signed-in visitor (their name is in the menu) and
    every page that is not public; otherwise Back after signing out would show a
    patron's name, card and loans from the browser's cache. Public pages for
    anonymous visitors, and static files, stay cacheable.
    """
    if request.endpoint == "static":
        return response
    private = g.get("user") is not None or (
        request.endpoint is not None
        and endpoint_policy(current_app.view_functions, request.endpoint) is not Access.PUBLIC
    )
    if private:
        response.headers["Cache-Control"] = "no-store"
    return response


ERROR_MESSAGES = {
    400: "The request could not be understood.",
    404: "There is no such page. It may have been removed, or the address is mistyped.",
    405: "That action is not possible on this page.",
    413: "That is more than Shelfmark accepts in one request: a form of at most "
    f"{body_limits.FORM_BODY_LIMIT // 1024} KB and {body_limits.FORM_FIELD_LIMIT} fields, "
    f"an import file of at most {body_limits.UPLOAD_BODY_LIMIT // 2**20} MB.",
}


async def _http_error(error: HTTPException):
    if error.code and error.code < 400:
        return error
    status = error.code or 500
    message = ERROR_MESSAGES.get(status, error.description or "Something went wrong.")
    return await htmx.render_error(status, message)


async def _unexpected_error(error: Exception):
    failure = write_failures.classify(error)
    if failure is not None:
        # A full disk or a database locked too long: the server's state, not a bug.
        log.warning("%s %s refused: %s", request.method, request.path, error)
        if failure.no_room:
            health.write_probe(current_app.extensions).note_no_room()
        body, status, headers = await htmx.render_error(503, failure.message)
        return body, status, {**headers, "Retry-After": str(failure.retry_after)}
    log.exception("unhandled error on %s %s", request.method, request.path)
    return await htmx.render_error(500, "Something went wrong on our side. Please try again.")
