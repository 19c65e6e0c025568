"""The desk in a real browser, by keyboard alone, as with a keyboard-wedge scanner."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright, expect

from webapp.db import connect_sync

from .server import running_server

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def demo_database(demo_copy):
    """The demo library, copied from the session's template rather than generated again."""
    return demo_copy


def _prepare(database) -> None:
    conn = connect_sync(database)
    try:
        book_id = conn.execute("INSERT INTO Books (Title) VALUES ('Keyboard Tales')").lastrowid
        conn.execute("INSERT INTO Copies (BookID, Barcode) VALUES (?, 'KB-1')", (book_id,))
        conn.execute("INSERT INTO Users (Name, Role, CardNumber) VALUES ('Kim Keys', 'Student', 'K001')")
    finally:
        conn.close()


async def test_a_scanner_selects_the_patron_lends_and_the_focus_stays_in_the_scan_box(demo_database):
    _prepare(demo_database)
    with running_server(demo_database) as base_url:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM)
            try:
                page = await browser.new_page()
                await page.goto(f"{base_url}/login?next=/desk")
                await page.fill("#email", "bob@example.com")
                await page.fill("#password", "demo")
                await page.press("#password", "Enter")
                await page.wait_for_url("**/desk")
                scan_box = page.locator("#scan")
                message = page.locator("#desk-message")
                await expect(scan_box).to_be_focused()

                await page.keyboard.type("K001")
                await page.keyboard.press("Enter")
                await expect(message).to_contain_text("Patron: Kim Keys")
                await expect(page.locator("#desk-panel")).to_contain_text("Nothing on loan")
                await expect(scan_box).to_be_focused()

                # The box empties as each scan is sent, so the next scan starts afresh.
                await page.keyboard.type("KB-1")
                await page.keyboard.press("Enter")
                await expect(message).to_contain_text("Lent: Keyboard Tales to Kim Keys")
                await expect(page.locator("#desk-loans")).to_contain_text("Keyboard Tales")
                await expect(scan_box).to_be_focused()

                await page.keyboard.type("KB-1")
                await page.keyboard.press("Enter")
                await expect(message).to_contain_text("Scanned twice")
                await expect(scan_box).to_be_focused()
                await expect(scan_box).to_have_value("")
            finally:
                await browser.close()
