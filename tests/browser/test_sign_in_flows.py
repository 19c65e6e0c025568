"""Invitations and password resets in a real browser against a real server: mail caught by
the in-app mailbox (read on /admin/mailbox) and by a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator

import httpx
import oidc_provider_mock
import pytest
import werkzeug.serving
from playwright.sync_api import Page, expect

from tests.reminder_helpers import SmtpServer, text_of

from .conftest import LiveServer, has_horizontal_scroll, log_in, serious_accessibility_violations

LINK = re.compile(r"https?://\S+/password/(?:reset|welcome)/[A-Za-z0-9_-]+")
NEW_PASSWORD = "seven purple dragons read"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def wait_for_mail(smtp: SmtpServer, address: str, count: int = 1) -> list:
    for _ in range(200):
        messages = smtp.handler.to(address)
        if len(messages) >= count:
            return messages
        time.sleep(0.05)
    raise AssertionError(f"no email reached {address}")


def ask_for_a_reset(page: Page, server: LiveServer, email: str) -> None:
    page.goto(server.url("/login"))
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_text(f"If a library account uses {email}")).to_be_visible()


def link_from_the_mailbox(page: Page, server: LiveServer, recipient: str) -> str:
    """The newest link emailed to ``recipient``, read by an admin in the in-app mailbox."""
    for _ in range(100):
        page.goto(server.url("/admin/mailbox"))
        row = page.locator("tr", has_text=recipient).first
        if row.count():
            row.get_by_role("link").first.click()
            found = LINK.findall(page.locator("pre").inner_text())
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"nothing for {recipient} in the mailbox")


def choose_password(page: Page, link: str, password: str) -> None:
    page.goto(link)
    page.get_by_label("New password").fill(password)
    page.get_by_role("button", name="Set password").click()
    expect(page.locator("#flash")).to_contain_text("Your password is set")


def test_reset_through_the_in_app_mailbox_on_a_phone(server: LiveServer, open_page):
    other_session = open_page()
    log_in(other_session, server, "alice@example.com")

    phone = open_page(width=360, height=740)
    ask_for_a_reset(phone, server, "alice@example.com")
    assert not has_horizontal_scroll(phone)
    assert serious_accessibility_violations(phone) == []

    admin = open_page()
    log_in(admin, server, "carol@example.com")
    link = link_from_the_mailbox(admin, server, "alice@example.com")
    assert "/password/reset/" in link

    phone.goto(link)
    assert not has_horizontal_scroll(phone)
    assert serious_accessibility_violations(phone) == []
    choose_password(phone, link, NEW_PASSWORD)
    log_in(phone, server, "alice@example.com", NEW_PASSWORD)

    # The session on the other device ended with the reset.
    other_session.goto(server.url("/account"))
    expect(other_session).to_have_url(re.compile(r"/login"))

    # The link worked once.
    phone.goto(link)
    expect(phone.get_by_role("heading", name="This link does not work")).to_be_visible()
    expect(phone.get_by_text("already been used")).to_be_visible()


def test_a_second_request_kills_the_first_and_an_expired_link_is_refused(
    server: LiveServer, open_page
):
    page = open_page(javascript=False)
    ask_for_a_reset(page, server, "alice@example.com")
    admin = open_page()
    log_in(admin, server, "carol@example.com")
    first = link_from_the_mailbox(admin, server, "alice@example.com")
    ask_for_a_reset(page, server, "alice@example.com")
    for _ in range(100):
        second = link_from_the_mailbox(admin, server, "alice@example.com")
        if second != first:
            break
        time.sleep(0.05)
    page.goto(first)
    expect(page.get_by_text("A newer link was sent")).to_be_visible()

    conn = sqlite3.connect(server.database)
    conn.execute("UPDATE SignInTokens SET ExpiresAt = '2000-01-01T00:00:00Z'")
    conn.commit()
    conn.close()
    page.goto(second)
    expect(page.get_by_text("This link has expired")).to_be_visible()
    page.get_by_role("link", name="Email me a new link").click()
    expect(page.get_by_label("Email")).to_be_visible()


def test_invitation_by_smtp_from_the_patron_page(start_server, smtp: SmtpServer, open_page):
    def add_pupil(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO Users (Name, Role, Email, GroupName) "
            "VALUES ('Dora Pupil', 'Student', 'dora@example.com', '7B')"
        )

    server = start_server(
        add_pupil, SHELFMARK_SMTP_HOST="127.0.0.1", SHELFMARK_SMTP_PORT=str(smtp.port)
    )
    librarian = open_page()
    log_in(librarian, server, "bob@example.com")
    librarian.goto(server.url("/patrons/invite?group=7B"))
    expect(librarian.get_by_role("heading", name="1 patron to invite in 7B")).to_be_visible()
    librarian.get_by_role("button", name="Invite 1 patron").click()
    expect(librarian.get_by_text("1 of 1 sent")).to_be_visible()

    message = wait_for_mail(smtp, "dora@example.com")[0]
    links = LINK.findall(text_of(message))
    assert len(links) == 1
    pupil = open_page(width=360, height=740)
    choose_password(pupil, links[0], NEW_PASSWORD)
    log_in(pupil, server, "dora@example.com", NEW_PASSWORD)
    pupil.goto(links[0])
    expect(pupil.get_by_text("already been used")).to_be_visible()

    # Forgotten already: the reset goes out by SMTP too, at once.
    phone = open_page(width=360, height=740)
    ask_for_a_reset(phone, server, "dora@example.com")
    reset = wait_for_mail(smtp, "dora@example.com", 2)[1]
    links = LINK.findall(text_of(reset))
    assert len(links) == 1 and "/password/reset/" in links[0]
    choose_password(phone, links[0], "dora found her notebook")
    log_in(phone, server, "dora@example.com", "dora found her notebook")


def test_send_sign_in_link_from_the_patron_page_through_the_in_app_mailbox(start_server, open_page):
    def add_pupil(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO Users (Name, Role, Email) VALUES ('Eli Pupil', 'Student', 'eli@example.com')"
        )

    server = start_server(add_pupil)
    conn = sqlite3.connect(server.database)
    eli = conn.execute("SELECT UserID FROM Users WHERE Email = 'eli@example.com'").fetchone()[0]
    conn.close()
    librarian = open_page()
    log_in(librarian, server, "bob@example.com")
    librarian.goto(server.url(f"/patrons/{eli}"))
    expect(librarian.locator("#sign-in-state")).to_contain_text("No password yet.")
    librarian.get_by_role("button", name="Send sign-in link").click()
    expect(librarian.locator("#flash")).to_contain_text("A sign-in link is on its way")

    admin = open_page()
    log_in(admin, server, "carol@example.com")
    link = link_from_the_mailbox(admin, server, "eli@example.com")
    assert "/password/welcome/" in link
    pupil = open_page(javascript=False)
    choose_password(pupil, link, NEW_PASSWORD)
    log_in(pupil, server, "eli@example.com", NEW_PASSWORD)
    admin.goto(server.url(f"/patrons/{eli}"))
    events = admin.locator("#account-events")
    for kind in ("invitation sent", "password set", "sign in"):
        expect(events).to_contain_text(kind)


def without_outside_stylesheets(wsgi_app):
    """The provider's pages link a stylesheet on a CDN; tests never reach the internet."""

    def app(environ, start_response):
        captured = {}

        def keep(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        body = b"".join(wsgi_app(environ, keep))
        body = re.sub(rb"<link[^>]*https://[^>]*>", b"", body)
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return app


@pytest.fixture
def oidc_provider(monkeypatch) -> Iterator[str]:
    """A real OpenID Connect provider on loopback (oidc-provider-mock), in this process."""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    app = oidc_provider_mock.app()
    app.wsgi_app = without_outside_stylesheets(app.wsgi_app)
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    issuer = f"http://127.0.0.1:{server.server_port}"
    response = httpx.put(
        f"{issuer}/users/alice@example.com",
        json={"email": "alice@example.com", "email_verified": True, "name": "Alice Smith"},
    )
    assert response.status_code == 204
    try:
        yield issuer
    finally:
        server.shutdown()
        thread.join(5)


def test_single_sign_on_from_a_phone_without_javascript(start_server, oidc_provider, open_page):
    server = start_server(
        SHELFMARK_OIDC_ISSUER=oidc_provider,
        SHELFMARK_OIDC_CLIENT_ID="shelfmark-library",
        SHELFMARK_OIDC_CLIENT_SECRET="a-client-secret",
        SHELFMARK_OIDC_NAME="Riverside School",
    )
    checked = open_page(width=360, height=740, dark=True)
    checked.goto(server.url("/login"))
    expect(checked.get_by_role("link", name="Sign in with Riverside School")).to_be_visible()
    assert not has_horizontal_scroll(checked)
    assert serious_accessibility_violations(checked) == []

    page = open_page(width=360, height=740, javascript=False)
    page.goto(server.url("/login"))
    page.get_by_role("link", name="Sign in with Riverside School").click()
    # The provider's own consent form: sign in as Alice there.
    page.locator("input[name=sub]").fill("alice@example.com")
    page.locator("button[type=submit], input[type=submit]").first.click()
    expect(page.locator("#flash")).to_contain_text("Signed in as Alice Smith")
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
