"""The README's pictures: docs/screenshots/*.png, rewritten by every run of the suite.

To add one, add a ``Screenshot`` (a demo account signs in first when ``signed_in_as``
is set) and a line for it in the README's Screenshots section.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from .conftest import LiveServer, log_in, save_screenshot


@dataclass(frozen=True)
class Screenshot:
    name: str
    path: str
    heading: str
    width: int = 1280
    height: int = 800
    dark: bool = False
    open_menu: bool = False
    signed_in_as: str | None = None


SCREENSHOTS = [
    Screenshot("search", "/search?q=the", "Search the catalogue"),
    Screenshot("desk", "/desk", "Circulation desk", signed_in_as="bob@example.com"),
    Screenshot("dashboard", "/dashboard", "Dashboard", signed_in_as="bob@example.com"),
    Screenshot("book-dark", "/books/1", "The Great Gatsby", dark=True),
    Screenshot("phone-search", "/search?q=gatsby", "Search the catalogue", width=360, height=740),
    Screenshot(
        "phone-menu-dark",
        "/books/2",
        "1984",
        width=360,
        height=740,
        dark=True,
        open_menu=True,
        signed_in_as="alice@example.com",
    ),
]


@pytest.mark.parametrize("shot", SCREENSHOTS, ids=[shot.name for shot in SCREENSHOTS])
def test_screenshot(shot: Screenshot, shared_server: LiveServer, open_page):
    page: Page = open_page(width=shot.width, height=shot.height, dark=shot.dark)
    if shot.signed_in_as:
        log_in(page, shared_server, shot.signed_in_as)
    page.goto(shared_server.url(shot.path))
    expect(page.get_by_role("heading", level=1)).to_contain_text(shot.heading)
    if shot.open_menu:
        page.locator("details.menu > summary").click()
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    assert save_screenshot(page, shot.name).stat().st_size > 0
