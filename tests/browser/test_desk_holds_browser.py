"""Holds in the browser: the hold box's live title search by keyboard, the hold shelf page and
the printed slips, each checked by axe-core in light and dark and printed to PDF."""

from __future__ import annotations

import re
import sqlite3
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from .conftest import (
    LiveServer,
    add_loan,
    add_patron,
    add_title,
    has_horizontal_scroll,
    log_in,
    serious_accessibility_violations,
)

# Points per millimetre in a PDF.
PT_PER_MM = 72 / 25.4


def holds_scenario(conn: sqlite3.Connection) -> None:
    """Gina waits for Zephyr Tales (out on loan), has Ready Reading on the hold shelf, an
    uncollected Late Letters past its deadline, and a copy of Pull Me waits on the open shelf."""
    today = date.today()
    alice = conn.execute("SELECT UserID FROM Users WHERE Email = 'alice@example.com'").fetchone()[0]
    gina = add_patron(conn, "Gina Hold", "S7001", "gina@example.com")
    (zephyr,) = add_title(conn, "Zephyr Tales", ["Z1"])
    add_loan(conn, alice, zephyr, today - timedelta(days=2), today + timedelta(days=12))
    (ready,) = add_title(conn, "Ready Reading", ["R1"])
    (late,) = add_title(conn, "Late Letters", ["L1"])
    (pull,) = add_title(conn, "Pull Me", ["P1"])
    conn.execute("UPDATE Copies SET Location = 'Fiction A' WHERE CopyID = ?", (pull,))
    for copy_id, pickup_by in (
        (ready, today + timedelta(days=3)),
        (late, today - timedelta(days=1)),
    ):
        conn.execute(
            "INSERT INTO Holds (UserID, BookID, Status, CopyID, PickupBy) "
            "SELECT ?, BookID, 'ready', CopyID, ? FROM Copies WHERE CopyID = ?",
            (gina, pickup_by.isoformat(), copy_id),
        )
    conn.execute(
        "INSERT INTO Holds (UserID, BookID) SELECT ?, BookID FROM Copies WHERE CopyID = ?",
        (gina, pull),
    )
    # Gina borrowed a book today: a loan for her due-date slip.
    (today_copy,) = add_title(conn, "Borrowed Today", ["B1"])
    add_loan(conn, gina, today_copy, today, today + timedelta(days=14))


@pytest.fixture
def holds_server(start_server) -> LiveServer:
    return start_server(holds_scenario)


def test_a_hold_is_placed_from_the_live_title_search_with_the_keyboard_only(
    holds_server: LiveServer, page: Page
):
    log_in(page, holds_server, "bob@example.com")
    page.goto(holds_server.url("/desk"))
    expect(page.locator("#scan")).to_be_focused()
    page.keyboard.type("S7001")
    page.keyboard.press("Enter")
    expect(page.locator("#patron-panel h2")).to_have_text("Gina Hold")

    hold_box = page.get_by_label("Hold a title for Gina Hold")
    hold_box.focus()
    page.keyboard.type("zephyr", delay=30)
    choice = page.get_by_role("button", name=re.compile(r"Hold for Gina Hold\W+Zephyr Tales"))
    expect(choice).to_be_visible()
    expect(page.locator("#hold-results")).to_contain_text("1 title match “zephyr”")
    # The answer did not take the focus away from the box being typed in.
    expect(hold_box).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(choice).to_be_focused()
    page.keyboard.press("Escape")
    expect(hold_box).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("#desk-message")).to_contain_text(
        "Hold placed: Zephyr Tales for Gina Hold, number 1 in the queue."
    )
    expect(page.locator("#desk-holds")).to_contain_text("Zephyr Tales")
    with sqlite3.connect(holds_server.database) as conn:
        statuses = conn.execute(
            "SELECT b.Title, h.Status FROM Holds h JOIN Books b ON b.BookID = h.BookID "
            "WHERE b.Title = 'Zephyr Tales'"
        ).fetchall()
    assert statuses == [("Zephyr Tales", "waiting")]


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_the_hold_shelf_page_is_accessible_and_fits_a_phone(
    holds_server: LiveServer, open_page, dark: bool
):
    page: Page = open_page(width=360, height=740, dark=dark)
    log_in(page, holds_server, "bob@example.com")
    page.goto(holds_server.url("/desk/hold-shelf"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Hold shelf")
    expect(page.locator("#ready")).to_contain_text("Ready Reading")
    expect(page.locator("#to-reshelve")).to_contain_text("Late Letters")
    expect(page.get_by_role("heading", name="Fiction A")).to_be_visible()
    assert not has_horizontal_scroll(page)
    assert serious_accessibility_violations(page) == []
    page.set_viewport_size({"width": 1280, "height": 800})
    assert serious_accessibility_violations(page) == []


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_the_slips_are_accessible_and_print_on_80_mm_and_a4_paper(
    holds_server: LiveServer, open_page, dark: bool
):
    page: Page = open_page(dark=dark)
    log_in(page, holds_server, "bob@example.com")
    page.goto(holds_server.url("/desk/hold-shelf"))
    page.get_by_role("link", name="Print the hold slip for Ready Reading").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("On hold for")
    expect(page.locator("article.slip")).to_contain_text("Gina Hold")
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    assert serious_accessibility_violations(page) == []
    assert _pdf_page_width_mm(page) == pytest.approx(80, abs=0.5)

    page.get_by_role("link", name="A4").click()
    expect(page.locator("body")).to_have_class(re.compile("paper-a4"))
    assert serious_accessibility_violations(page) == []
    assert _pdf_page_width_mm(page) == pytest.approx(210, abs=0.5)

    with sqlite3.connect(holds_server.database) as conn:
        (gina,) = conn.execute("SELECT UserID FROM Users WHERE CardNumber = 'S7001'").fetchone()
    page.goto(holds_server.url(f"/desk/patrons/{gina}/slip"))
    expect(page.locator("article.slip")).to_contain_text("Borrowed Today")
    assert serious_accessibility_violations(page) == []
    page.emulate_media(media="print")
    expect(page.locator(".slip-tools")).to_be_hidden()
    expect(page.locator("article.slip")).to_be_visible()


def _pdf_page_width_mm(page: Page) -> float:
    """The width of the page the browser prints, as the slip's @page rule sets it."""
    pdf = page.pdf(prefer_css_page_size=True)
    box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert box, "no page size in the PDF"
    return float(box.group(1)) / PT_PER_MM
