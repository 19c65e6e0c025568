"""Single sign-on against a real OpenID Connect provider started on loopback by the test
(oidc-provider-mock: Authlib's provider on Flask, in a thread), never a real Google or
Microsoft endpoint. A small WSGI layer in front of it turns it into the providers that go
wrong: tokens for another audience, a payload changed after signing, a nonce dropped."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import re
import threading
from collections.abc import Iterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import oidc_provider_mock
import pytest
import werkzeug.serving

from webapp import create_app
from webapp.db import connect_sync

from .conftest import make_settings

CLIENT_ID = "shelfmark-library"


class Misbehaviour:
    """WSGI middleware: records what the provider is sent, and spoils what it answers."""

    def __init__(self, app) -> None:
        self.app = app
        self.mode: str | None = None
        self.authorize_queries: list[dict] = []
        self.token_bodies: list[dict] = []

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/oauth2/authorize":
            query = parse_qs(environ["QUERY_STRING"])
            self.authorize_queries.append(query)
            if self.mode == "no_nonce":
                query.pop("nonce", None)
            if self.mode == "audience":
                query["client_id"] = ["another-app"]
            environ["QUERY_STRING"] = urlencode(query, doseq=True)
        if path == "/oauth2/token":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            self.token_bodies.append(parse_qs(body.decode()))
            environ["wsgi.input"] = io.BytesIO(body)
            if self.mode == "audience":
                environ["HTTP_AUTHORIZATION"] = (
                    "Basic " + base64.b64encode(b"another-app:whatever").decode()
                )
            if self.mode == "signature":
                return self._spoil_signature(environ, start_response)
        return self.app(environ, start_response)

    def _spoil_signature(self, environ, start_response):
        captured = {}

        def keep(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        body = json.loads(b"".join(self.app(environ, keep)))
        header, payload, signature = body["id_token"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["email"] = "carol@example.com"  # an admin's address, signature left as it was
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        body["id_token"] = f"{header}.{forged}.{signature}"
        data = json.dumps(body).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(data)))])
        return [data]


@pytest.fixture
def provider(monkeypatch) -> Iterator[tuple[str, Misbehaviour]]:
    # The provider (not the app) refuses plain http unless told this is a test on loopback.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    flask_app = oidc_provider_mock.app()
    middleware = Misbehaviour(flask_app.wsgi_app)
    flask_app.wsgi_app = middleware
    server = werkzeug.serving.make_server("localhost", 0, flask_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}", middleware
    finally:
        server.shutdown()
        thread.join(5)


def put_user(issuer: str, email: str, **claims) -> None:
    response = httpx.put(
        f"{issuer}/users/{email}",
        json={"email": email, "email_verified": True, "name": "Someone", **claims},
    )
    assert response.status_code == 204


@asynccontextmanager
async def library(demo_copy, issuer: str, **overrides):
    settings = make_settings(
        demo_copy,
        oidc_issuer=issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret="a-client-secret",
        oidc_name="Riverside School",
        **overrides,
    )
    app = create_app(settings)
    async with app.test_app() as test_app:
        yield test_app


async def sign_in(client, email: str):
    """The whole round trip: our /login/sso, the provider's consent form, our callback."""
    start = await client.get("/login/sso")
    assert start.status_code == 302
    authorize = start.headers["Location"]
    answer = await asyncio.to_thread(httpx.post, authorize, data={"sub": email})
    assert answer.status_code == 302, answer.text
    callback = urlsplit(answer.headers["Location"])
    assert callback.path == "/login/sso/callback"
    response = await client.get(f"{callback.path}?{callback.query}")
    return response, f"{callback.path}?{callback.query}"


async def body(response) -> str:
    return await response.get_data(as_text=True)


async def test_the_button_shows_only_when_configured(demo_copy, provider):
    issuer, _ = provider
    async with create_app(make_settings(demo_copy)).test_app() as app:
        assert "Sign in with" not in await body(await app.test_client().get("/login"))
        assert (await app.test_client().get("/login/sso")).status_code == 404
    async with library(demo_copy, issuer) as sso_app:
        page = await body(await sso_app.test_client().get("/login"))
        assert "Sign in with Riverside School" in page


async def test_an_existing_patron_signs_in_by_verified_email_with_pkce(demo_copy, provider):
    issuer, spy = provider
    put_user(issuer, "alice@example.com")
    async with library(demo_copy, issuer) as app:
        client = app.test_client()
        response, callback = await sign_in(client, "alice@example.com")
        assert response.status_code == 303, await body(response)
        assert (await client.get("/account")).status_code == 200

        query = spy.authorize_queries[-1]
        verifier = spy.token_bodies[-1]["code_verifier"][0]
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        assert query["code_challenge_method"] == ["S256"]
        assert query["code_challenge"] == [challenge.rstrip(b"=").decode()]
        assert query["nonce"] and query["state"]

        # The same answer from the provider does not work twice.
        replay = await app.test_client().get(callback)
        assert replay.status_code == 400
        assert "expired or was already used" in await body(replay)
        replay_same_browser = await client.get(callback)
        assert replay_same_browser.status_code == 400

    conn = connect_sync(demo_copy)
    kinds = [row[0] for row in conn.execute("SELECT Kind FROM Events WHERE Kind LIKE 'account%'")]
    conn.close()
    assert "account_sso_linked" in kinds and "account_sign_in" in kinds


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("audience", "not meant for this library"),
        ("signature", "failed its signature check"),
        ("no_nonce", "does not belong to this sign-in"),
    ],
)
async def test_a_token_that_fails_its_checks_is_refused(demo_copy, provider, mode, message):
    issuer, spy = provider
    put_user(issuer, "alice@example.com")
    spy.mode = mode
    async with library(demo_copy, issuer) as app:
        client = app.test_client()
        response, _ = await sign_in(client, "alice@example.com")
        assert response.status_code == 400
        assert message in await body(response)
        assert (await client.get("/account")).status_code == 302


async def test_an_unverified_email_is_refused(demo_copy, provider):
    issuer, _ = provider
    put_user(issuer, "alice@example.com", email_verified=False)
    async with library(demo_copy, issuer) as app:
        response, _ = await sign_in(app.test_client(), "alice@example.com")
        assert response.status_code == 400
        assert "not verified" in await body(response)


async def test_a_domain_not_allowed_is_refused(demo_copy, provider):
    issuer, _ = provider
    put_user(issuer, "alice@example.com")
    async with library(demo_copy, issuer, oidc_allowed_domains=("school.example",)) as app:
        response, _ = await sign_in(app.test_client(), "alice@example.com")
        assert response.status_code == 403
        assert "Accounts of example.com cannot sign in here" in await body(response)


async def test_a_new_person_gets_no_account_unless_create_role_is_set(demo_copy, provider):
    issuer, _ = provider
    put_user(issuer, "newpupil@example.com", name="New Pupil")
    async with library(demo_copy, issuer) as app:
        response, _ = await sign_in(app.test_client(), "newpupil@example.com")
        assert response.status_code == 403
        assert "No active library account uses newpupil@example.com" in await body(response)
    async with library(demo_copy, issuer, oidc_create_role="Student") as app:
        client = app.test_client()
        response, _ = await sign_in(client, "newpupil@example.com")
        assert response.status_code == 303
        assert (await client.get("/account")).status_code == 200
    conn = connect_sync(demo_copy)
    row = conn.execute(
        "SELECT Name, Role, PasswordHash FROM Users WHERE Email = 'newpupil@example.com'"
    ).fetchone()
    conn.close()
    assert tuple(row) == ("New Pupil", "Student", None)


async def test_staff_may_be_held_to_a_password_or_to_sso(demo_copy, provider):
    issuer, _ = provider
    put_user(issuer, "bob@example.com")
    async with library(demo_copy, issuer, staff_sign_in="password") as app:
        response, _ = await sign_in(app.test_client(), "bob@example.com")
        assert response.status_code == 403
    async with library(demo_copy, issuer, staff_sign_in="sso") as app:
        client = app.test_client()
        page = await client.get("/login")
        token = re.search(r'csrf-token" content="([^"]+)"', await body(page))[1]
        refused = await client.post(
            "/login", form={"email": "bob@example.com", "password": "demo", "csrf_token": token}
        )
        assert refused.status_code == 403
        response, _ = await sign_in(client, "bob@example.com")
        assert response.status_code == 303
