"""Every page and fragment on a 360 px phone in light and dark mode and on a wide screen in
dark mode, each checked by axe-core, with no sideways scrolling.

``MAIN_PAGES`` is the one list of checked URLs. To cover a new page, add a ``MainPage``
(with the demo account that may see it); to cover a fragment, add the page that shows it
with ``then``, a step that brings the fragment in (typing, a scan, a click that opens a
dialog) without changing the shared server's data. The phone, menu and accessibility
checks then run on it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from .conftest import LiveServer, has_horizontal_scroll, log_in, serious_accessibility_violations

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
TOUCH_TARGET_PX = 44
STUDENT = "alice@example.com"
LIBRARIAN = "bob@example.com"
ADMIN = "carol@example.com"


@dataclass(frozen=True)
class MainPage:
    name: str
    path: str
    heading: str
    signed_in_as: str | None = None
    # A step that brings a fragment into the page once it has loaded.
    then: Callable[[Page], None] | None = None
    # Printed slips have no site menu.
    has_menu: bool = True

    def open(self, page: Page, server: LiveServer, fragment: bool = True) -> None:
        """Load the page (signing in first) and, unless told not to, bring its fragment in."""
        if self.signed_in_as:
            log_in(page, server, self.signed_in_as)
        self.revisit(page, server, fragment)

    def revisit(self, page: Page, server: LiveServer, fragment: bool = True) -> None:
        page.goto(server.url(self.path))
        expect(page.get_by_role("heading", level=1)).to_contain_text(self.heading)
        if fragment:
            self.show_fragment(page)

    def show_fragment(self, page: Page) -> None:
        if self.then is not None:
            self.then(page)


def type_a_search(page: Page) -> None:
    page.get_by_label("Search by title, author, subject or ISBN").fill("the")
    expect(page.locator("#search-status")).to_contain_text("for “the”")


def scan_alices_card(page: Page) -> None:
    page.locator("#scan").fill("S0001")
    page.locator("#scan").press("Enter")
    expect(page.locator("#patron-panel h2")).to_have_text("Alice Smith")


def type_in_the_hold_box(page: Page) -> None:
    scan_alices_card(page)
    page.get_by_label("Hold a title for Alice Smith").fill("the")
    expect(page.locator("#hold-results")).to_contain_text("“the”")


def ask_to_withdraw(page: Page) -> None:
    page.get_by_role("button", name="Withdraw this title").click()
    expect(page.get_by_role("dialog")).to_be_visible()


MAIN_PAGES = [
    MainPage("search", "/search", "Search the catalogue"),
    MainPage("search results", "/search?q=the", "Search the catalogue"),
    MainPage("search, typed", "/search", "Search the catalogue", then=type_a_search),
    MainPage("no matches", "/search?q=zzzqqq", "Search the catalogue"),
    MainPage("search, signed in", "/search?q=gatsby", "Search the catalogue", STUDENT),
    MainPage("book", "/books/1", "The Great Gatsby"),
    MainPage("sign in", "/login", "Sign in"),
    MainPage("not found", "/no-such-page", "Not found"),
    MainPage("forgot password", "/password/forgot", "Forgot your password?"),
    MainPage("dead link", "/password/reset/no-such-link", "This link does not work"),
    MainPage("change password", "/account/password", "Change password", "alice@example.com"),
    MainPage("invite", "/patrons/invite", "Invite everyone without a password", "bob@example.com"),
    MainPage("patron, admin", "/patrons/1", "Alice Smith", "carol@example.com"),
    MainPage("book, staff", "/books/1", "The Great Gatsby", LIBRARIAN),
    MainPage("new book", "/books/new", "New book", LIBRARIAN),
    MainPage("edit book", "/books/1/edit", "Edit book", LIBRARIAN),
    MainPage("withdraw dialog", "/books/1/edit", "Edit book", LIBRARIAN, then=ask_to_withdraw),
    MainPage("withdraw page", "/books/1/withdraw", "Withdraw “The Great Gatsby”?", LIBRARIAN),
    MainPage("copies", "/books/1/copies", "Copies of", LIBRARIAN),
    MainPage("copy form", "/copies/1/edit", "Copy C100000", LIBRARIAN),
    MainPage("copy", "/copies/C100000", "C100000", LIBRARIAN),
    MainPage("barcodes", "/settings/barcodes", "Barcode sequence", LIBRARIAN),
    MainPage("patrons", "/patrons", "Patrons", LIBRARIAN),
    MainPage("patron", "/patrons/1", "Alice Smith", LIBRARIAN),
    MainPage("new patron", "/patrons/new", "New patron", LIBRARIAN),
    MainPage("edit patron", "/patrons/1/edit", "Edit patron", LIBRARIAN),
    MainPage("desk, a patron", "/desk", "Circulation desk", LIBRARIAN, then=scan_alices_card),
    MainPage("desk, hold box", "/desk", "Circulation desk", LIBRARIAN, then=type_in_the_hold_box),
    MainPage("hold search", "/desk/holds/search?book=the", "Hold a title", LIBRARIAN),
    MainPage("hold shelf", "/desk/hold-shelf", "Hold shelf", LIBRARIAN),
    MainPage("due date slip", "/desk/patrons/1/slip", "Alice Smith", LIBRARIAN, has_menu=False),
    MainPage("import", "/admin/import", "Import and export", LIBRARIAN),
    MainPage("reminders", "/admin/reminders", "Overdue reminders", LIBRARIAN),
    MainPage("notify by hand", "/admin/reminders/by-hand", "Patrons to notify by hand", LIBRARIAN),
    MainPage("mailbox", "/admin/mailbox", "In-app mailbox", LIBRARIAN),
    MainPage("rules", "/admin/rules", "Circulation rules", ADMIN),
    MainPage("my account", "/account", "My account", STUDENT),
    MainPage("desk", "/desk", "Circulation desk", LIBRARIAN),
    MainPage("dashboard", "/dashboard", "Dashboard", ADMIN),
    MainPage("privacy", "/admin/privacy", "Privacy and retention", "carol@example.com"),
    MainPage("delete a patron", "/patrons/1/erase", "Delete", "bob@example.com"),
    MainPage("leavers", "/leavers?group=Year+13", "Leavers with items out", "bob@example.com"),
    MainPage("letters", "/leavers/letters?group=Year+13", "Letters to leavers", "bob@example.com"),
    MainPage("class list", "/leavers/class-list", "Next year's class list", "bob@example.com"),
    MainPage("promote classes", "/groups/promote", "Promote classes", LIBRARIAN),
    MainPage("box of new books", "/cataloguing/box", "Box of new books", LIBRARIAN),
    MainPage("labels", "/labels", "Labels", LIBRARIAN),
    MainPage("cover", "/books/1/cover", "Cover of The Great Gatsby", LIBRARIAN),
    MainPage("notices", "/admin/notices", "Notices", ADMIN),
    MainPage("notice editor", "/admin/notices/reminder", "Overdue reminder", ADMIN),
    MainPage("reports", "/reports", "Reports", LIBRARIAN),
    # A stocktake's own pages need one: tests/browser/test_stocktake_browser.py checks them.
    MainPage("stocktakes", "/stocktakes", "Stocktake", LIBRARIAN),
]
PAGE_IDS = [main_page.name for main_page in MAIN_PAGES]


def check_the_phone_menu(page: Page) -> None:
    """The menu button's list opens, every item a full touch target on the screen."""
    menu_button = page.locator("details.menu > summary")
    navigation = page.get_by_role("navigation", name="Main")
    expect(menu_button).to_have_text("Menu")
    expect(navigation).to_be_hidden()
    menu_button.click()
    expect(navigation).to_be_visible()
    for item in navigation.locator("a, button").all():
        expect(item).to_be_visible()
        box = item.bounding_box()
        assert box["height"] >= TOUCH_TARGET_PX, item
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], item


@pytest.mark.parametrize("main_page", MAIN_PAGES, ids=PAGE_IDS)
def test_on_a_light_and_a_dark_phone_and_a_dark_wide_screen(
    main_page: MainPage, shared_server: LiveServer, open_page
):
    page: Page = open_page(**PHONE)
    main_page.open(page, shared_server, fragment=False)

    # The phone, light: no sideways scrolling, and a menu button whose list opens and closes.
    assert not has_horizontal_scroll(page)
    if main_page.has_menu:
        check_the_phone_menu(page)
        assert not has_horizontal_scroll(page)
    # Checked with the menu open, so that its links are checked too.
    assert serious_accessibility_violations(page) == []
    if main_page.has_menu:
        page.locator("details.menu > summary").click()
        expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    if main_page.then is not None:
        main_page.show_fragment(page)
        assert not has_horizontal_scroll(page)
        assert serious_accessibility_violations(page) == []

    # The phone, dark. Loaded again, because axe sometimes saw colours half switched to
    # the dark scheme; the fragment is brought in again.
    page.emulate_media(color_scheme="dark")
    main_page.revisit(page, shared_server)
    assert not has_horizontal_scroll(page)
    assert serious_accessibility_violations(page) == []

    # The same page on a wide screen in dark mode: the navigation is always shown.
    page.set_viewport_size(DESKTOP)
    main_page.revisit(page, shared_server)
    if main_page.has_menu:
        expect(page.locator("details.menu > summary")).to_be_hidden()
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    assert not has_horizontal_scroll(page)
    assert serious_accessibility_violations(page) == []


def test_on_a_phone_the_copies_table_becomes_a_labelled_list(shared_server: LiveServer, open_page):
    page: Page = open_page(**PHONE)
    page.goto(shared_server.url("/books/1"))
    table = page.get_by_role("table")
    assert table.bounding_box()["width"] <= PHONE["width"]
    expect(table.locator("thead")).to_have_css("position", "absolute")
    first_row = table.locator("tbody tr").first
    expect(first_row).to_have_css("display", "block")
    labels = first_row.locator("td").evaluate_all(
        "cells => cells.map(cell => getComputedStyle(cell, '::before').content)"
    )
    assert labels == ['"Barcode"', '"Item type"', '"Shelf"', '"Status"']


def test_on_a_wide_screen_the_copies_table_is_a_table(shared_server: LiveServer, open_page):
    page: Page = open_page(**DESKTOP)
    page.goto(shared_server.url("/books/1"))
    table = page.get_by_role("table")
    expect(table.get_by_role("columnheader", name="Barcode")).to_be_visible()
    expect(table.locator("tbody tr").first).to_have_css("display", "table-row")


def test_on_a_1280_px_screen_an_admins_whole_menu_is_one_row(shared_server: LiveServer, open_page):
    page: Page = open_page(**DESKTOP)
    log_in(page, shared_server, "carol@example.com")
    page.goto(shared_server.url("/desk"))
    items = page.get_by_role("navigation", name="Main").locator("li")
    expect(items.last).to_contain_text("Sign out Carol Davis")
    tops = {round(item.bounding_box()["y"]) for item in items.all()}
    assert len(tops) == 1, f"the menu wraps onto {len(tops)} rows"
    assert not has_horizontal_scroll(page)
