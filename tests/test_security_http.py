"""Every state-changing route refuses forged requests; every response carries the security headers.

Both tests walk the app's own URL map, so a new route is covered without
editing this file. Cookie flags, sign-out and login throttling are proved in
test_auth_http.py.
"""

from __future__ import annotations

import sqlite3

import pytest

from webapp import create_app
from webapp.access import Access, allow

from .conftest import csrf_from, make_settings
from .security_helpers import build_library, copy_library, signed_in, table_checksums
from .test_security_matrix import _fill, routes

LEAKS = ("Traceback", "sqlite3", "SELECT ", "INSERT ", 'File "', "OperationalError")


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    path = tmp_path_factory.mktemp("http") / "template.sqlite3"
    return path, build_library(path)


@pytest.fixture
async def admin_app(library, tmp_path):
    template, records = library
    database = copy_library(template, tmp_path / "library.sqlite3")
    app = create_app(make_settings(database))
    async with app.test_app() as test_app:
        yield app, test_app, database, records


async def test_every_post_route_refuses_a_missing_or_wrong_token_and_a_cross_site_request(
    admin_app,
):
    app, test_app, database, records = admin_app
    client = test_app.test_client()
    token = await signed_in(client, "admin")
    before = table_checksums(database)
    values = records.url_values()
    posts = [route for route in routes(app) if route[1] == "POST"]
    assert len(posts) > 20
    for endpoint, _, rule in posts:
        url = rule.rule
        for name in rule.arguments:
            url = _fill(url, name, values[name])
        attempts = (
            ({}, {}, 400),
            ({"csrf_token": "forged"}, {}, 400),
            ({}, {"X-CSRF-Token": "forged", "HX-Request": "true"}, 400),
            ({"csrf_token": token}, {"Sec-Fetch-Site": "cross-site"}, 403),
        )
        for form, headers, status in attempts:
            response = await client.post(url, form=form, headers=headers)
            body = await response.get_data(as_text=True)
            assert response.status_code == status, f"{endpoint} {form} {headers}"
            assert ("other sites" if status == 403 else "This form has expired") in body
    assert table_checksums(database) == before
    assert (await client.get("/admin/rules")).status_code == 200, "the admin is still signed in"


def assert_security_headers(response, what: str) -> None:
    headers = response.headers
    policy = headers.get("Content-Security-Policy", "")
    directives = dict(
        (part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";") if part.strip()
    )
    assert "frame-ancestors" in directives and directives["frame-ancestors"] == "'none'", what
    script_source = directives.get("script-src", directives.get("default-src"))
    assert script_source is not None and "unsafe-inline" not in script_source, what
    assert "unsafe-eval" not in script_source, what
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert headers.get("Referrer-Policy") in ("same-origin", "no-referrer", "strict-origin"), what


@pytest.mark.parametrize("role", [None, "student", "admin"])
async def test_every_page_and_error_carries_the_security_headers_and_no_inline_script(
    admin_app, role
):
    app, test_app, _, records = admin_app
    client = test_app.test_client()
    token = await signed_in(client, role)
    values = records.url_values()
    for endpoint, method, rule in routes(app):
        if endpoint == "auth.logout":
            continue
        url = rule.rule
        for name in rule.arguments:
            url = _fill(url, name, values[name])
        if method == "GET":
            response = await client.get(url)
        else:
            response = await client.post(url, form={"csrf_token": token})
        assert_security_headers(response, f"{method} {url}")
        if response.mimetype == "text/html":
            body = await response.get_data(as_text=True)
            assert "<script>" not in body and "<script " not in body.replace(
                '<script src="/static/', ""
            ), f"inline script on {url}"
            assert " style=" not in body and " onclick=" not in body, (
                f"inline style or handler on {url}"
            )
    for url in ("/no/such/page", "/books/999999999", "/static/../pyproject.toml"):
        assert_security_headers(await client.get(url), url)


async def test_error_pages_show_no_stack_trace_or_sql(library, tmp_path):
    template, _ = library
    app = create_app(make_settings(copy_library(template, tmp_path / "library.sqlite3")))

    @app.get("/broken")
    @allow(Access.PUBLIC)
    async def broken():
        raise sqlite3.OperationalError("no such column: PasswordHash in SELECT * FROM Users")

    async with app.test_app() as test_app:
        client = test_app.test_client()
        token = await csrf_from(client)
        answers = {
            "500": await client.get("/broken"),
            "htmx 500": await client.get("/broken", headers={"HX-Request": "true"}),
            "404": await client.get("/books/0"),
            "405": await client.put("/search", headers={"X-CSRF-Token": token}),
            "400": await client.post("/login", form={}),
            "413": await client.post(
                "/login",
                data=b"x" * (33 * 1024 * 1024),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ),
        }
        for what, response in answers.items():
            body = await response.get_data(as_text=True)
            assert response.status_code == int(what.split()[-1]), what
            assert not any(leak in body for leak in LEAKS), f"{what}: {body[:500]}"
            assert_security_headers(response, what)
        assert "Something went wrong on our side" in await answers["500"].get_data(as_text=True)


async def test_a_session_cookie_copied_before_sign_out_no_longer_works_after_it(admin_app):
    app, test_app, _, _ = admin_app
    librarian = test_app.test_client()
    token = await signed_in(librarian, "librarian")
    stolen = next(
        cookie.value for cookie in librarian.cookie_jar if cookie.name == "shelfmark_session"
    )
    thief = app.test_client(use_cookies=False)
    headers = {"Cookie": f"shelfmark_session={stolen}"}
    assert (await thief.get("/desk", headers=headers)).status_code == 200
    assert (await librarian.post("/logout", form={"csrf_token": token})).status_code == 302
    replayed = await thief.get("/desk", headers=headers)
    assert replayed.status_code == 302 and replayed.headers["Location"].startswith("/login")


async def test_the_cookie_a_visitor_gets_before_signing_in_is_httponly_and_samesite(admin_app):
    _, test_app, _, _ = admin_app
    response = await test_app.test_client().get("/login")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("shelfmark_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
