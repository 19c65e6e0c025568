"""Signing in and out: cookies, server-side sessions, throttling and CSRF."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import hypothesis
import pytest
from hypothesis import strategies as st

from webapp import create_app
from webapp.db import connect_sync
from webapp.views.auth import _safe_next

from .conftest import csrf_from, log_in, make_settings


@pytest.fixture
def demo_database(demo_copy):
    """The demo library, copied from the session's template rather than generated again."""
    return demo_copy


async def sign_in(client, email: str, password: str):
    token = await csrf_from(client)
    return await client.post(
        "/login", form={"email": email, "password": password, "csrf_token": token}
    )


def rows(settings, statement: str, params=()):
    conn = connect_sync(settings.database)
    try:
        return conn.execute(statement, params).fetchall()
    finally:
        conn.close()


async def test_signing_in_sets_an_httponly_samesite_cookie_and_lands_on_my_account(client):
    response = await sign_in(client, "alice@example.com", "demo")
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert "Sign out Alice Smith" in await (await client.get("/search")).get_data(as_text=True)


async def test_the_cookie_is_secure_when_configured_for_https(demo_database):
    app = create_app(make_settings(demo_database, secure_cookies=True))
    async with app.test_app() as test_app:
        response = await sign_in(test_app.test_client(), "alice@example.com", "demo")
        assert "Secure" in response.headers["Set-Cookie"]


async def test_login_goes_back_to_the_page_that_asked_for_it_but_never_off_site(client):
    token = await csrf_from(client, "/login?next=/account")
    response = await client.post(
        "/login",
        form={
            "email": "alice@example.com",
            "password": "demo",
            "next": "/account",
            "csrf_token": token,
        },
    )
    assert response.headers["Location"] == "/account"
    other = await client.post("/logout", form={"csrf_token": await csrf_from(client, "/account")})
    assert other.status_code == 302
    token = await csrf_from(client)
    response = await client.post(
        "/login",
        form={
            "email": "alice@example.com",
            "password": "demo",
            "next": "//evil.example/",
            "csrf_token": token,
        },
    )
    assert response.headers["Location"] == "/account"


# Each of these would leave the site in a browser (which drops tabs and newlines and reads
# a backslash as a slash), or broke the Location header with a 500.
OFF_SITE_NEXT = [
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\nSet-Cookie: stolen=1",
    "/\x0b",
    "/\x00",
    "/\u200b/evil.example",
    "\\\\evil.example",
    "/\\evil.example",
    "//evil.example",
    "///evil.example",
    "https://evil.example/",
    "http:/evil.example",
    "javascript:alert(1)",
    "evil.example",
    " /account",
]


@pytest.mark.parametrize("target", OFF_SITE_NEXT)
async def test_a_next_that_could_leave_the_site_or_break_the_header_lands_at_home(client, target):
    token = await csrf_from(client)
    response = await client.post(
        "/login",
        form={
            "email": "alice@example.com",
            "password": "demo",
            "next": target,
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    again = await client.get("/login", query_string={"next": target})
    assert again.status_code == 302 and again.headers["Location"] == "/account"
    page = await (await client.get("/search")).get_data(as_text=True)
    assert "Sign out Alice Smith" in page


def _as_a_browser_reads_it(location: str) -> str:
    """What a browser resolves a Location to, on https://library.example/login (WHATWG URL:
    leading and trailing C0 controls and spaces trimmed, tabs and newlines removed, a
    backslash read as a slash in http(s) URLs)."""
    trimmed = location.strip("".join(map(chr, range(0x21))))
    cleaned = "".join(ch for ch in trimmed if ch not in "\t\n\r").replace("\\", "/")
    return urljoin("https://library.example/login", cleaned)


@hypothesis.settings(max_examples=500, deadline=None)
@hypothesis.given(target=st.one_of(st.text(), st.text(alphabet="/\\\t\n\r\x0b\x00:.@%? evil")))
def test_whatever_next_holds_sign_in_stays_on_the_site(target):
    kept = _safe_next(target)
    if kept is not None:
        assert urlsplit(_as_a_browser_reads_it(kept)).netloc == "library.example", kept


async def test_the_menus_sign_in_link_comes_back_to_the_page_the_reader_was_on(client):
    book = await (await client.get("/books/1")).get_data(as_text=True)
    assert 'href="/login?next=/books/1">Sign in</a>' in book
    results = await (await client.get("/search?q=gatsby")).get_data(as_text=True)
    assert 'href="/login?next=/search?q%3Dgatsby">Sign in</a>' in results
    front = await (await client.get("/search")).get_data(as_text=True)
    assert 'href="/login">Sign in</a>' in front

    token = await csrf_from(client, "/login?next=/search?q%3Dgatsby")
    response = await client.post(
        "/login",
        form={
            "email": "alice@example.com",
            "password": "demo",
            "next": "/search?q=gatsby",
            "csrf_token": token,
        },
    )
    assert response.headers["Location"] == "/search?q=gatsby"


async def test_a_librarian_lands_on_the_dashboard(client):
    response = await sign_in(client, "bob@example.com", "demo")
    assert response.headers["Location"] == "/dashboard"


async def test_a_wrong_password_or_unknown_email_gets_the_same_clear_refusal(client):
    for email, password in (("alice@example.com", "wrong"), ("nobody@example.com", "demo")):
        response = await sign_in(client, email, password)
        assert response.status_code == 401
        assert "do not match an active account" in await response.get_data(as_text=True)
    assert (await client.get("/account")).status_code == 302


async def test_an_inactive_account_cannot_sign_in(client, settings):
    rows(settings, "UPDATE Users SET Active = 0 WHERE Email = 'alice@example.com'")
    response = await sign_in(client, "alice@example.com", "demo")
    assert response.status_code == 401


async def test_staff_sessions_last_a_working_day_and_student_sessions_longer(app, settings):
    for email in ("bob@example.com", "alice@example.com"):
        await log_in(app.test_client(), email)
    expiry = {
        row["Role"]: datetime.strptime(row["ExpiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        for row in rows(
            settings, "SELECT u.Role, s.ExpiresAt FROM Sessions s JOIN Users u USING (UserID)"
        )
    }
    now = datetime.now(UTC)
    assert 8 <= (expiry["Librarian"] - now).total_seconds() / 3600 <= 12
    assert (expiry["Student"] - now).days >= 7


async def test_signing_out_ends_the_session_on_the_server(client, settings):
    await log_in(client, "bob@example.com")
    assert (await client.get("/desk")).status_code == 200
    token = await csrf_from(client, "/desk")
    response = await client.post("/logout", form={"csrf_token": token})
    assert response.status_code == 302
    assert (await client.get("/desk")).status_code == 302
    assert rows(settings, "SELECT count(*) FROM Sessions")[0][0] == 0


async def test_a_session_ended_elsewhere_or_expired_no_longer_works(client, settings):
    await log_in(client, "bob@example.com")
    rows(settings, "UPDATE Sessions SET ExpiresAt = '2000-01-01T00:00:00Z'")
    response = await client.get("/desk")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


async def test_repeated_failures_for_one_account_are_refused_for_a_while_even_with_the_right_password(
    client,
):
    for _ in range(5):
        assert (await sign_in(client, "bob@example.com", "guess")).status_code == 401
    response = await sign_in(client, "bob@example.com", "demo")
    html = await response.get_data(as_text=True)
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in html and "minutes" in html
    assert int(response.headers["Retry-After"]) > 60
    # Another account from the same address is not locked out by these five.
    assert (await sign_in(client, "alice@example.com", "demo")).status_code == 302


async def test_many_failures_from_one_address_pause_every_account_from_it_for_seconds(
    client, settings
):
    assert (await sign_in(client, "nobody@example.com", "x")).status_code == 401
    conn = connect_sync(settings.database)
    conn.executemany(
        "INSERT INTO LoginFailures (Email, Address, At) "
        "SELECT ?, Address, At FROM LoginFailures LIMIT 1",
        [(f"guess{number}@example.com",) for number in range(59)],
    )
    conn.close()
    # Sixty failures in the window: a pause of 16 seconds after the latest, for every account.
    response = await sign_in(client, "carol@example.com", "demo")
    assert response.status_code == 429
    assert 14 <= int(response.headers["Retry-After"]) <= 16
    assert "Too many failed sign-in attempts. Please wait 1" in await response.get_data(
        as_text=True
    )
    rows(
        settings,
        "UPDATE LoginFailures SET At = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-20 seconds')",
    )
    assert (await sign_in(client, "carol@example.com", "demo")).status_code == 302


async def test_a_method_a_page_does_not_take_is_a_405_and_an_unknown_address_a_404_without_a_token(
    client,
):
    wrong_method = await client.put("/search")
    assert wrong_method.status_code == 405
    assert "That action is not possible on this page." in await wrong_method.get_data(as_text=True)
    assert (await client.post("/no-such-page", form={})).status_code == 404


async def test_state_changing_requests_without_the_csrf_token_are_refused(client, settings):
    response = await client.post("/login", form={"email": "alice@example.com", "password": "demo"})
    assert response.status_code == 400
    assert "This form has expired" in await response.get_data(as_text=True)
    await log_in(client, "bob@example.com")
    token = await csrf_from(client, "/desk")
    for headers, form in (({}, {}), ({"X-CSRF-Token": "wrong"}, {}), ({}, {"csrf_token": "wrong"})):
        response = await client.post("/logout", form=form, headers=headers)
        assert response.status_code == 400
    cross_site = await client.post(
        "/logout", form={"csrf_token": token}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross_site.status_code == 403
    assert rows(settings, "SELECT count(*) FROM Sessions")[0][0] == 1
    by_header = await client.post("/logout", headers={"X-CSRF-Token": token})
    assert by_header.status_code == 302
