"""The notices editor in a browser: the preview follows the typing (htmx) with a real
patron's loans, a sandbox escape is refused, a save sticks, and without JavaScript the
Preview button shows the same."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from .conftest import LiveServer, add_loan, add_patron, add_title, log_in

ADMIN = "carol@example.com"


def late_reader(conn: sqlite3.Connection) -> None:
    """Lena, card N7001, has one book a week overdue."""
    today = date.today()
    lena = add_patron(conn, "Lena Late", "N7001", "lena@example.com")
    (copy,) = add_title(conn, "The Overdue Atlas", ["OA1"])
    add_loan(conn, lena, copy, today - timedelta(days=28), today - timedelta(days=7))


@pytest.fixture
def notices_server(start_server) -> LiveServer:
    return start_server(late_reader)


def stored(server: LiveServer) -> list[tuple]:
    with sqlite3.connect(server.database) as conn:
        return conn.execute("SELECT Kind, Subject FROM NoticeWordings").fetchall()


def test_the_preview_follows_the_typing_and_a_save_sticks(notices_server: LiveServer, page: Page):
    log_in(page, notices_server, ADMIN)
    page.goto(notices_server.url("/admin/reminders"))
    page.get_by_role("link", name="Notices: the wording of each email").click()
    page.get_by_role("link", name="Overdue reminder", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overdue reminder")
    preview = page.locator("#notice-preview")
    expect(preview).to_contain_text("With sample data.")

    page.get_by_label("Preview for the patron with card number or email").fill("N7001")
    expect(preview).to_contain_text("As it would be sent today to Lena Late")
    expect(page.locator("#preview-body")).to_contain_text("The Overdue Atlas")

    page.get_by_label("Subject").fill("{{ patron_name }}, {{ overdue_count }} book is late")
    page.get_by_label("Body (plain text)").fill(
        "Hello {{ patron_name }}.\n{% for item in items %}{{ item.title }}: "
        "{{ item.days_overdue }} days\n{% endfor %}"
    )
    expect(page.locator("#preview-subject")).to_have_text("Lena Late, 1 book is late")
    expect(page.locator("#preview-body")).to_have_text(
        "Hello Lena Late.\nThe Overdue Atlas: 7 days\n"
    )

    page.get_by_label("Body (plain text)").fill("{{ ''.__class__.__mro__ }}")
    expect(page.locator("#preview-problems")).to_contain_text("names starting with _")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#notice-problems")).to_contain_text("body, line 1")
    assert stored(notices_server) == []

    page.get_by_label("Body (plain text)").fill("Hello {{ patron_name }}.")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("This notice has an edited wording.")).to_be_visible()
    assert stored(notices_server) == [
        ("reminder", "{{ patron_name }}, {{ overdue_count }} book is late")
    ]


def test_without_javascript_the_preview_button_shows_the_draft(
    notices_server: LiveServer, open_page
):
    page: Page = open_page(javascript=False)
    log_in(page, notices_server, ADMIN)
    page.goto(notices_server.url("/admin/notices/hold_ready"))
    page.get_by_label("Subject").fill("Come and get {{ title }}")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-subject")).to_have_text("Come and get The Sample Book")
    expect(page.get_by_label("Subject")).to_have_value("Come and get {{ title }}")
    assert stored(notices_server) == []


def test_the_editor_works_by_keyboard(notices_server: LiveServer, page: Page):
    log_in(page, notices_server, ADMIN)
    page.goto(notices_server.url("/admin/notices/invitation"))
    subject = page.get_by_label("Subject")
    subject.focus()
    page.keyboard.press("End")
    page.keyboard.type(", {{ patron_name }}")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Body (plain text)")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Preview for the patron with card number or email")).to_be_focused()
    page.keyboard.type("N7001")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Save")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_text("This notice has an edited wording.")).to_be_visible()
    expect(page.locator("#preview-subject")).to_have_text("Sign in to Shelfmark Library, Lena Late")
    assert stored(notices_server) == [
        ("invitation", "Sign in to {{ library_name }}, {{ patron_name }}")
    ]
