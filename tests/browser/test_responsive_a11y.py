"""Every main page on a 360 px phone in light mode and on a wide screen in dark mode,
each checked by axe-core.

To cover a new page, add a ``MainPage`` to ``MAIN_PAGES`` (with the demo account
that may see it): the phone, menu and accessibility checks then run on it too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from .conftest import LiveServer, has_horizontal_scroll, log_in, serious_accessibility_violations

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
TOUCH_TARGET_PX = 44


@dataclass(frozen=True)
class MainPage:
    name: str
    path: str
    heading: str
    signed_in_as: str | None = None

    def open(self, page: Page, server: LiveServer) -> None:
        if self.signed_in_as:
            log_in(page, server, self.signed_in_as)
        page.goto(server.url(self.path))
        expect(page.get_by_role("heading", level=1)).to_contain_text(self.heading)


MAIN_PAGES = [
    MainPage("search", "/search", "Search the catalogue"),
    MainPage("search results", "/search?q=the", "Search the catalogue"),
    MainPage("no matches", "/search?q=zzzqqq", "Search the catalogue"),
    MainPage("search, signed in", "/search?q=gatsby", "Search the catalogue", "alice@example.com"),
    MainPage("book", "/books/1", "The Great Gatsby"),
    MainPage("sign in", "/login", "Sign in"),
    MainPage("not found", "/no-such-page", "Not found"),
    MainPage("my account", "/account", "My account", "alice@example.com"),
    MainPage("desk", "/desk", "Circulation desk", "bob@example.com"),
    MainPage("dashboard", "/dashboard", "Dashboard", "carol@example.com"),
    MainPage("privacy", "/admin/privacy", "Privacy and retention", "carol@example.com"),
    MainPage("delete a patron", "/patrons/1/erase", "Delete", "bob@example.com"),
    MainPage("leavers", "/leavers?group=Year+13", "Leavers with items out", "bob@example.com"),
    MainPage("letters", "/leavers/letters?group=Year+13", "Letters to leavers", "bob@example.com"),
    MainPage("class list", "/leavers/class-list", "Next year's class list", "bob@example.com"),
]
PAGE_IDS = [main_page.name for main_page in MAIN_PAGES]


@pytest.mark.parametrize("main_page", MAIN_PAGES, ids=PAGE_IDS)
def test_on_a_light_phone_and_a_dark_wide_screen(
    main_page: MainPage, shared_server: LiveServer, open_page
):
    page: Page = open_page(**PHONE)
    main_page.open(page, shared_server)
    menu_button = page.locator("details.menu > summary")
    navigation = page.get_by_role("navigation", name="Main")

    # The phone: no sideways scrolling, and a menu button whose list opens and closes.
    assert not has_horizontal_scroll(page)
    expect(menu_button).to_have_text("Menu")
    expect(navigation).to_be_hidden()
    menu_button.click()
    expect(navigation).to_be_visible()
    for item in navigation.locator("a, button").all():
        expect(item).to_be_visible()
        box = item.bounding_box()
        assert box["height"] >= TOUCH_TARGET_PX, item
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], item
    assert not has_horizontal_scroll(page)
    # Checked with the menu open, so that its links are checked too.
    assert serious_accessibility_violations(page) == []
    menu_button.click()
    expect(navigation).to_be_hidden()

    # The same page on a wide screen in dark mode: the navigation is always shown.
    # Reloaded, because axe sometimes saw colours half switched to the dark scheme.
    page.set_viewport_size(DESKTOP)
    page.emulate_media(color_scheme="dark")
    page.reload()
    expect(menu_button).to_be_hidden()
    expect(navigation).to_be_visible()
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
    assert labels == ['"Barcode"', '"Shelf"', '"Status"']


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
