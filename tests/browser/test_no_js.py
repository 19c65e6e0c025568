"""With JavaScript off, the site still works: plain GET search, paging links, forms."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable

from playwright.sync_api import Page, expect

from webapp.db import connect_sync

from .conftest import LiveServer, add_patron, add_title, log_in

SEARCH_BOX = "Search by title, author, subject or ISBN"


def test_search_and_paging_work_as_plain_links_and_forms(shared_server: LiveServer, open_page):
    page: Page = open_page(javascript=False)
    page.goto(shared_server.url("/search"))
    page.get_by_label(SEARCH_BOX).fill("the")
    page.get_by_role("button", name="Search").click()

    expect(page).to_have_url(re.compile(r"/search\?q=the$"))
    results = page.locator("#search-results")
    expect(results.locator(".result-count")).to_contain_text("matches for “the”")
    first_page_titles = results.locator("a.result-title").all_inner_texts()
    assert len(first_page_titles) == 20
    expect(page.get_by_label(SEARCH_BOX)).to_have_value("the")

    results.get_by_role("link", name="More results").click()
    expect(page).to_have_url(re.compile(r"/search\?q=the&page=2$"))
    second_page_titles = results.locator("a.result-title").all_inner_texts()
    assert second_page_titles and not set(second_page_titles) & set(first_page_titles)
    expect(results.locator("ol.results")).to_have_attribute("start", "21")

    results.get_by_role("link", name="Previous").click()
    expect(page).to_have_url(re.compile(r"/search\?q=the&page=1$"))
    assert results.locator("a.result-title").all_inner_texts() == first_page_titles


def test_enter_on_an_isbn_opens_the_book_and_its_copies(shared_server: LiveServer, open_page):
    page: Page = open_page(javascript=False)
    page.goto(shared_server.url("/search"))
    page.get_by_label(SEARCH_BOX).fill("9780451524935")
    page.get_by_label(SEARCH_BOX).press("Enter")
    expect(page.get_by_role("heading", level=1, name="1984")).to_be_visible()
    expect(page.get_by_role("table")).to_contain_text("Barcode")


def test_signing_in_and_out_works_with_the_plain_forms(server: LiveServer, open_page):
    page: Page = open_page(javascript=False)
    page.goto(server.url("/login"))
    page.get_by_label("Email address").fill("alice@example.com")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("#flash")).to_contain_text("Signed in as Alice Smith.")

    page.get_by_role("button", name="Sign out Alice Smith").click()
    expect(page.locator("#flash")).to_contain_text("You have signed out.")
    expect(page.get_by_role("link", name="Sign in")).to_be_attached()


def _nina_and_a_copy(conn: sqlite3.Connection) -> None:
    add_patron(conn, "Nina Noscript", "N001")
    add_title(conn, "Plain Forms", ["PF-1"])


def test_lending_at_the_desk_works_with_plain_forms(
    start_server: Callable[..., LiveServer], open_page
):
    server = start_server(prepare=_nina_and_a_copy)
    page: Page = open_page(javascript=False)
    log_in(page, server, "bob@example.com")
    page.goto(server.url("/desk"))
    scan_box = page.get_by_role("textbox", name="Scan a card or a copy barcode")
    message = page.locator("#desk-message")

    scan_box.fill("N001")
    scan_box.press("Enter")
    expect(page).to_have_url(re.compile(r"/desk$"))
    expect(message).to_contain_text("Patron: Nina Noscript")
    expect(page.locator("#desk-panel")).to_contain_text("Nothing on loan")

    scan_box.fill("PF-1")
    scan_box.press("Enter")
    expect(page).to_have_url(re.compile(r"/desk$"))
    expect(message).to_contain_text("Lent: Plain Forms to Nina Noscript")
    expect(page.locator("#desk-loans")).to_contain_text("Plain Forms")

    conn = connect_sync(server.database)
    try:
        borrowers = conn.execute(
            "SELECT u.Name FROM Loans l JOIN Users u ON u.UserID = l.UserID "
            "JOIN Copies c ON c.CopyID = l.CopyID WHERE c.Barcode = 'PF-1' AND l.ReturnedAt IS NULL"
        ).fetchall()
    finally:
        conn.close()
    assert [name for (name,) in borrowers] == ["Nina Noscript"]
