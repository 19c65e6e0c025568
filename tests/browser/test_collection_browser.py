"""The book form in a real browser against a real server: htmx swaps errors in place, and
the same form works with JavaScript turned off."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from .conftest import LiveServer, log_in


def test_errors_swap_in_place_with_htmx(server: LiveServer, page: Page):
    log_in(page, server, "bob@example.com")
    page.goto(server.url("/books/new"))
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    page.fill("#f-title", "Kindred")
    page.fill("#f-isbn", "0-8070-8305-9")  # wrong check digit (the right one is 4)
    page.click("#book-form button[type=submit]")

    expect(page.locator("#f-isbn-error")).to_contain_text("is not a valid ISBN")
    expect(page.locator("#f-title")).to_have_value("Kindred")
    expect(page.locator("#f-isbn")).to_be_focused()  # the focus goes to the mistake
    assert navigations == []  # swapped in place, no page load

    page.fill("#f-isbn", "0-8070-8305-4")
    page.click("#book-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/books/\d+$"))
    expect(page.locator("main")).to_contain_text("978-0-8070-8305-5")


def test_the_book_form_answers_422_without_javascript(
    server: LiveServer, open_page: Callable[..., Page]
):
    page = open_page(javascript=False)
    log_in(page, server, "bob@example.com")
    page.goto(server.url("/books/new"))
    page.fill("#f-title", "Kindred again")
    page.fill("#f-isbn", "9780451524935")  # the demo library already has 1984
    statuses: list[int] = []
    page.on("response", lambda response: statuses.append(response.status))
    page.click("#book-form button[type=submit]")

    expect(page.locator("#f-isbn-error")).to_contain_text("Add a copy to the existing book")
    assert 422 in statuses
    expect(page.locator("#f-title")).to_have_value("Kindred again")
