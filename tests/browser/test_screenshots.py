"""The README's pictures: docs/screenshots/*.png, taken by every run of the suite and
rewritten only when the page looks different (conftest.screenshot_changed).

To add one, add a ``Screenshot`` (a demo account signs in first when ``signed_in_as``
is set) and a line for it in the README's Screenshots section.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect

from .conftest import LiveServer, log_in, save_screenshot, screenshot_changed


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


def _png(size=(200, 100), colour=(255, 255, 255), block=None) -> bytes:
    """A PNG of one colour, with ``block`` = (box, colour) painted over it."""
    picture = Image.new("RGB", size, colour)
    if block:
        ImageDraw.Draw(picture).rectangle(block[0], fill=block[1])
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def test_a_picture_is_rewritten_only_when_the_page_looks_different():
    page = _png()
    assert not screenshot_changed(page, _png())
    # Anti-aliasing noise: a few pixels a little off.
    assert not screenshot_changed(page, _png(block=((0, 0, 3, 3), (250, 250, 250))))
    # Or a pixel or two very different, under 0.1% of the picture.
    assert not screenshot_changed(page, _png(block=((5, 5, 6, 5), (0, 0, 0))))
    # A new line of text, a new colour, or another size is a change.
    assert screenshot_changed(page, _png(block=((10, 10, 60, 20), (0, 0, 0))))
    assert screenshot_changed(page, _png(colour=(20, 20, 20)))
    assert screenshot_changed(page, _png(size=(200, 120)))


def test_an_unchanged_page_leaves_its_picture_untouched(shared_server: LiveServer, open_page):
    page: Page = open_page(width=1280, height=800)
    page.goto(shared_server.url("/search?q=the"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Search the catalogue")
    path = save_screenshot(page, "search")
    before = path.stat().st_mtime_ns
    assert save_screenshot(page, "search").stat().st_mtime_ns == before
