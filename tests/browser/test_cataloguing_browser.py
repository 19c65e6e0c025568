"""The box of new books in a real browser, against the local stand-in for Open Library.

A librarian scans ISBN after ISBN (typed like a scanner, then Enter): each answer
says what became of the book, the scan box keeps the focus for the next one, and
the list under it grows. Covers arrive from the stand-in's covers service and are
served by Shelfmark itself (the page fixture fails on any CSP violation or any
request to another host). The cataloguing pages pass axe in light and dark and
fit a 360 px screen.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .. import fake_book_services as fake
from .conftest import has_horizontal_scroll, log_in, serious_accessibility_violations


@pytest.fixture
def cataloguing_server(start_server):
    with fake.fake_book_services() as services:
        yield start_server(
            SHELFMARK_OPENLIBRARY_URL=services.url,
            SHELFMARK_OPENLIBRARY_COVERS_URL=services.url,
            SHELFMARK_ISBN_LOOKUP_TIMEOUT="1",
        )


def scan(page: Page, isbn: str) -> None:
    box = page.get_by_label("Scan an ISBN")
    expect(box).to_be_focused()
    page.keyboard.type(isbn, delay=5)
    page.keyboard.press("Enter")


def test_a_box_of_new_books_scanned_one_after_another(page: Page, cataloguing_server):
    server = cataloguing_server
    log_in(page, server, "bob@example.com")
    page.goto(server.url("/cataloguing/box"))
    said = page.locator("#box-said")

    scan(page, fake.FOX)
    expect(said).to_have_text("New book: Fantastic Mr. Fox.")
    scan(page, fake.HAWKING)
    expect(said).to_have_text(
        "New book: A Brief History of Time: From the Big Bang to Black Holes."
    )
    scan(page, fake.FOX)
    expect(said).to_contain_text("Another copy: barcode")
    scan(page, fake.UNKNOWN)
    expect(said).to_contain_text("No record was found for this ISBN: fill it in by hand.")
    expect(page.get_by_label("Scan an ISBN")).to_be_focused()

    rows = page.locator("#box-list tbody tr")
    expect(rows).to_have_count(4)
    expect(page.get_by_role("heading", name="In this box (4)")).to_be_visible()
    expect(rows.nth(0)).to_contain_text("fill it in by hand")
    expect(rows.nth(1)).to_contain_text("Another copy")
    expect(rows.nth(2)).to_contain_text("523.1 HAW")
    expect(rows.nth(3)).to_contain_text("FIC DAH")

    # The cover was fetched in the background; it shows once the list is reloaded.
    page.reload()
    cover = page.get_by_role("img", name="Cover of Fantastic Mr. Fox").first
    expect(cover).to_be_visible()
    assert cover.evaluate("img => img.complete && img.naturalWidth > 0")
    assert serious_accessibility_violations(page) == []

    # A book not found is filled in by hand from its link, with the ISBN already there.
    rows.nth(0).get_by_role("link", name="fill it in by hand").click()
    expect(page.get_by_label("ISBN", exact=True)).to_have_value("978-0-00-000001-9")
    expect(page.locator("#lookup-message")).to_contain_text("fill it in by hand")

    page.goto(server.url("/cataloguing/box"))
    page.get_by_role("button", name="Done: close the box and print labels").click()
    expect(page).to_have_url(server.url("/labels"))
    expect(page.get_by_role("cell", name="FIC DAH")).to_have_count(2)


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_cataloguing_pages_are_accessible_and_fit_a_phone(open_page, cataloguing_server, dark):
    server = cataloguing_server
    page = open_page(width=360, height=740, dark=dark)
    log_in(page, server, "bob@example.com")
    for path in (
        f"/books/new?isbn={fake.FOX}",
        "/cataloguing/box",
        "/labels",
        "/books/1/cover",
        "/search?q=the",
    ):
        page.goto(server.url(path))
        assert serious_accessibility_violations(page) == [], path
        assert not has_horizontal_scroll(page), path
