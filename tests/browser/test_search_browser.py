"""Live search in a real browser: results follow the typing, late answers lose, Back works."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from webapp import demo

from .conftest import LiveServer

SEARCH_BOX = "Search by title, author, subject or ISBN"


def search_address(query: str) -> re.Pattern[str]:
    """The search page's URL for ``query`` (a space may be sent as + or %20)."""
    encoded = re.escape(query).replace(r"\ ", "(?:\\+|%20)")
    return re.compile(rf"/search\?q={encoded}$")


def test_results_and_the_address_follow_each_letter_typed(shared_server: LiveServer, page: Page):
    page.goto(shared_server.url("/search"))
    box = page.get_by_label(SEARCH_BOX)
    results = page.locator("#search-results")
    expect(box).to_be_focused()
    expect(results.get_by_role("heading", name="Most borrowed")).to_be_visible()

    box.press_sequentially("gre", delay=40)
    expect(page).to_have_url(search_address("gre"))
    expect(results.get_by_role("link", name="The Great Gatsby")).to_be_visible()
    expect(results.get_by_role("heading", name="Most borrowed")).to_have_count(0)

    box.press_sequentially("at gat", delay=40)
    expect(page).to_have_url(search_address("great gat"))
    expect(results).to_contain_text("1 match for “great gat”")
    expect(results.get_by_role("link", name="The Great Gatsby")).to_be_visible()


def test_a_filter_joins_the_address_only_while_it_is_set(shared_server: LiveServer, page: Page):
    page.goto(shared_server.url("/search?q=the"))
    results = page.locator("#search-results")
    page.get_by_label("On the shelf").check()
    expect(page).to_have_url(re.compile(r"/search\?q=the&available=1$"))
    page.get_by_label("Sort").select_option(label="Title")
    expect(page).to_have_url(re.compile(r"/search\?q=the&available=1&sort=title$"))
    expect(results.get_by_role("link").first).to_be_visible()
    page.get_by_label("Sort").select_option(label="Best match")
    page.get_by_label("On the shelf").uncheck()
    expect(page).to_have_url(search_address("the"))


def test_a_late_answer_to_an_earlier_keystroke_never_replaces_newer_results(
    shared_server: LiveServer, page: Page
):
    # The request for the first keystroke is held in the browser, and let through only
    # once the newer results show: its answer arrives after theirs, whatever the server.
    held = []

    def hold(route):
        held.append(route)

    page.route(re.compile(r"/search\?q=g$"), hold)
    finished = []
    page.on("requestfinished", lambda request: finished.append(request.url))
    page.goto(shared_server.url("/search?q=orwell"))
    box = page.get_by_label(SEARCH_BOX)
    results = page.locator("#search-results")
    loading = page.get_by_role("progressbar", include_hidden=True)
    expect(results).to_contain_text("for “orwell”")

    box.select_text()
    with page.expect_request(re.compile(r"/search\?q=g$")) as first_keystroke:
        box.press_sequentially("g")
    expect(loading).to_be_visible()
    expect(results).to_have_attribute("aria-busy", "true")
    box.press_sequentially("atsby")

    # The newer results show without waiting for the answer to "g"…
    expect(results).to_contain_text("1 match for “gatsby”")
    assert not [url for url in finished if url.endswith("?q=g")]
    # …and once that request is let through and over, and nothing is loading, they are
    # still there.
    (late,) = held
    late.continue_()
    first_keystroke.value.response()
    expect(loading).to_be_hidden()
    expect(results).not_to_have_attribute("aria-busy", "true")
    expect(results).to_contain_text("1 match for “gatsby”")
    expect(results.get_by_role("link", name="The Great Gatsby")).to_be_visible()
    expect(page).to_have_url(search_address("gatsby"))
    expect(box).to_have_value("gatsby")


def test_back_and_forward_restore_the_earlier_search_and_its_text(
    shared_server: LiveServer, page: Page
):
    page.goto(shared_server.url("/search"))
    box = page.get_by_label(SEARCH_BOX)
    results = page.locator("#search-results")

    # Each submitted search is an entry of the history (typing alone replaces the address).
    box.fill("gatsby")
    box.press("Enter")
    expect(results).to_contain_text("1 match for “gatsby”")
    box.fill("orwell")
    box.press("Enter")
    expect(results).to_contain_text("1 match for “orwell”")
    expect(page).to_have_url(search_address("orwell"))

    page.go_back()
    expect(page).to_have_url(search_address("gatsby"))
    expect(results).to_contain_text("1 match for “gatsby”")
    expect(results.get_by_role("link", name="The Great Gatsby")).to_be_visible()
    expect(box).to_have_value("gatsby")

    page.go_back()
    expect(page).to_have_url(re.compile(r"/search$"))
    expect(results.get_by_role("heading", name="Most borrowed")).to_be_visible()
    expect(box).to_have_value("")

    page.go_forward()
    expect(box).to_have_value("gatsby")
    expect(results).to_contain_text("1 match for “gatsby”")


def test_back_after_leaving_the_page_restores_the_search(shared_server: LiveServer, page: Page):
    page.goto(shared_server.url("/search"))
    box = page.get_by_label(SEARCH_BOX)
    box.fill("orwell")
    page.locator("#search-results").get_by_role("link", name="1984").click()
    expect(page.get_by_role("heading", level=1, name="1984")).to_be_visible()

    page.go_back()
    expect(page).to_have_url(search_address("orwell"))
    expect(box).to_have_value("orwell")
    expect(page.locator("#search-results")).to_contain_text("1 match for “orwell”")


def test_enter_on_an_isbn_opens_the_book_though_the_live_search_was_still_pending(
    shared_server: LiveServer, page: Page
):
    # Hold the submitted search until the box's own live request (250 ms after the
    # typing) has been decided: the live request must not cancel the submit.
    held_submits = []

    def hold_the_submit(route):
        if route.request.headers.get("hx-trigger") == "search-form":
            held_submits.append(route)
        else:
            route.continue_()

    page.route(re.compile(r"/search\?q=978"), hold_the_submit)
    page.goto(shared_server.url("/search"))
    live_request_decided = page.evaluate_handle(
        """() => ({done: new Promise((resolve) => document.addEventListener(
            "htmx:confirm", (event) => event.detail.elt.id === "q" && resolve()))})"""
    )
    box = page.get_by_label(SEARCH_BOX)
    box.fill("978-0743273565")
    with page.expect_request(lambda request: request.headers.get("hx-trigger") == "search-form"):
        box.press("Enter")
    page.evaluate("waiter => waiter.done", live_request_decided)
    held_submits[0].continue_()

    expect(page).to_have_url(re.compile(r"/books/\d+$"))
    expect(page.get_by_role("heading", level=1, name="The Great Gatsby")).to_be_visible()


def test_no_matches_says_what_to_try_next(shared_server: LiveServer, page: Page):
    page.goto(shared_server.url("/search"))
    page.get_by_label(SEARCH_BOX).fill("zzzqqq")
    expect(page.locator("#search-results")).to_contain_text(
        "No matches for “zzzqqq”. Check the spelling, try fewer words, or search by author."
    )


def test_the_count_of_results_is_a_polite_status(shared_server: LiveServer, page: Page):
    page.goto(shared_server.url("/search"))
    page.get_by_label(SEARCH_BOX).fill("gatsby")
    expect(page.get_by_role("status")).to_have_text("1 match for “gatsby”")


def test_an_error_answer_is_shown_in_the_message_area(shared_server: LiveServer, page: Page):
    # The server's real answer to a failing htmx request, in place of the search's.
    page.route(
        re.compile(r"/search\?q=boom$"),
        lambda route: route.fulfill(response=route.fetch(url=shared_server.url("/no-such-page"))),
    )
    page.goto(shared_server.url("/search?q=gatsby"))
    page.get_by_label(SEARCH_BOX).fill("boom")
    flash = page.locator("#flash")
    expect(flash.get_by_role("alert")).to_contain_text("There is no such page.")
    expect(page.locator("#search-results")).to_contain_text("1 match for “gatsby”")


def test_a_request_that_gets_no_answer_says_so(shared_server: LiveServer, page: Page):
    page.route(
        re.compile(r"/search\?q=offline$"), lambda route: route.abort("internetdisconnected")
    )
    page.goto(shared_server.url("/search?q=gatsby"))
    page.get_by_label(SEARCH_BOX).fill("offline")
    expect(page.locator("#flash").get_by_role("alert")).to_have_text(
        "The library could not be reached. Check your connection and try again."
    )
    expect(page.locator("#search-results")).to_contain_text("1 match for “gatsby”")


def test_a_message_already_shown_does_not_come_back_with_back(
    shared_server: LiveServer, page: Page
):
    page.goto(shared_server.url("/search?q=gatsby"))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in").click()
    page.get_by_label("Email address").fill("alice@example.com")
    page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # The menu's link came back to the search, which says who signed in.
    expect(page).to_have_url(search_address("gatsby"))
    flash = page.locator("#flash")
    expect(flash).to_contain_text("Signed in as Alice Smith")

    page.get_by_label(SEARCH_BOX).fill("orwell")
    page.get_by_label(SEARCH_BOX).press("Enter")
    expect(page.locator("#search-results")).to_contain_text("1 match for “orwell”")
    page.go_back()
    expect(page.locator("#search-results")).to_contain_text("1 match for “gatsby”")
    expect(flash).to_be_empty()
