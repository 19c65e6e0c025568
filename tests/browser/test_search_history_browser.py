"""The search page's history, title, announcements and scroll position in a real browser.

Typing is one history entry, not one per pause; the title names the search; screen
readers hear the count, not the list; Back from a book returns to the same place in the
results, on a wide screen and on a phone.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import LiveServer
from .test_search_browser import SEARCH_BOX, search_address

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


def history_length(page: Page) -> int:
    return page.evaluate("() => history.length")


def test_typing_replaces_the_address_and_submitting_adds_one_entry(
    shared_server: LiveServer, page: Page
):
    page.goto(shared_server.url("/search"))
    box = page.get_by_label(SEARCH_BOX)
    results = page.locator("#search-results")
    start = history_length(page)

    # Typed slowly, each pause gets its own answer, and each answer only replaces the address.
    answers = []
    page.on("response", lambda response: "/search?q=" in response.url and answers.append(1))
    for letter in "gatsby":
        box.press_sequentially(letter)
        expect(page).to_have_url(search_address(box.input_value()))
    expect(results).to_contain_text("1 match for “gatsby”")
    assert len(answers) >= 3
    assert history_length(page) == start

    box.press("Enter")
    expect(page).to_have_url(search_address("gatsby"))
    page.wait_for_function(f"() => history.length === {start + 1}")

    # Back returns to the page as it was before the typing began.
    page.go_back()
    expect(page).to_have_url(re.compile(r"/search$"))
    expect(results.get_by_role("heading", name="Most borrowed")).to_be_visible()
    expect(box).to_have_value("")
    page.go_forward()
    expect(box).to_have_value("gatsby")
    expect(results).to_contain_text("1 match for “gatsby”")


def test_the_title_names_the_search_and_only_the_count_is_announced(
    shared_server: LiveServer, page: Page
):
    page.goto(shared_server.url("/search"))
    expect(page).to_have_title("Search – Shelfmark")
    status = page.locator("#search-status")
    expect(status).to_have_attribute("role", "status")
    expect(status).to_have_text("")
    # The results themselves are no live region: a screen reader would read them all.
    assert page.locator("[aria-live] .results, .results[aria-live]").count() == 0
    assert page.locator("#search-results").get_attribute("aria-live") is None

    page.get_by_label(SEARCH_BOX).fill("orwell")
    expect(page).to_have_title("orwell – Search – Shelfmark")
    expect(status).to_have_text("1 match for “orwell”")

    page.get_by_label(SEARCH_BOX).fill("zzzqqq")
    expect(page).to_have_title("zzzqqq – Search – Shelfmark")
    expect(status).to_contain_text("No matches for “zzzqqq”")

    page.get_by_label(SEARCH_BOX).fill("")
    expect(page).to_have_title("Search – Shelfmark")
    # A page loaded with a search names it too.
    page.goto(shared_server.url("/search?q=gatsby"))
    expect(page).to_have_title("gatsby – Search – Shelfmark")


@pytest.mark.parametrize("screen", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_back_from_a_book_returns_to_the_same_place_in_the_results(
    screen, shared_server: LiveServer, open_page
):
    page: Page = open_page(**screen)
    page.goto(shared_server.url("/search"))
    start = history_length(page)
    page.get_by_label(SEARCH_BOX).fill("the")
    results = page.locator("#search-results")
    expect(results.locator(".result-count")).to_contain_text("for “the”")
    last = results.locator(".result-title").last
    last.scroll_into_view_if_needed()
    scrolled = page.evaluate("() => window.scrollY")
    assert scrolled > 200, "the results must be long enough to scroll"
    title = last.inner_text()

    last.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    assert history_length(page) == start + 2

    page.go_back()
    expect(page).to_have_url(search_address("the"))
    page.wait_for_function(f"() => Math.abs(window.scrollY - {scrolled}) <= 2")
    expect(results.get_by_role("link", name=title)).to_be_focused()
    expect(page.get_by_label(SEARCH_BOX)).to_have_value("the")

    # One more Back returns to the search page as it was before the typing.
    page.go_back()
    expect(page).to_have_url(re.compile(r"/search$"))
