"""A stocktake in the browser: two staff scanning one shelf at once over a slow network, a
stocktake resumed after the server restarts, and its pages on a phone, in the dark, by
keyboard and without JavaScript.

The scans go through the desk's own scan queue (static/shelfmark.js); the database, not
the screen, says what was counted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from ..server import running_server as serve_database
from .conftest import (
    LiveServer,
    add_title,
    emulate_latency,
    has_horizontal_scroll,
    log_in,
    running_server,
    serious_accessibility_violations,
)
from .test_desk_scan_queue import QUEUE_TIMEOUT_MS, _scan_like_a_scanner

SHELF = "Stocktake shelf"
COPIES = [f"ST{number:04d}" for number in range(1, 9)]
STOCKTAKE_ID = 1
PAGE = f"/stocktakes/{STOCKTAKE_ID}"
PHONE = {"width": 360, "height": 740}


def _library(conn: sqlite3.Connection) -> None:
    """Eight copies on a shelf of their own, and an open stocktake of that shelf."""
    for number, barcode in enumerate(COPIES):
        [copy_id] = add_title(conn, f"Shelf Book {number + 1}", [barcode])
        conn.execute("UPDATE Copies SET Location = ? WHERE CopyID = ?", (SHELF, copy_id))
    bob = conn.execute("SELECT UserID FROM Users WHERE Email = 'bob@example.com'").fetchone()[0]
    conn.execute(
        "INSERT INTO Stocktakes (StocktakeID, Name, WholeLibrary, StartedBy) "
        "VALUES (?, 'Shelf check', 0, ?)",
        (STOCKTAKE_ID, bob),
    )
    conn.execute(
        "INSERT INTO StocktakeLocations (StocktakeID, Location) VALUES (?, ?)",
        (STOCKTAKE_ID, SHELF),
    )


def _scans(database: Path) -> list[tuple[str, int]]:
    conn = sqlite3.connect(database)
    try:
        return conn.execute(
            "SELECT c.Barcode, count(*) FROM StocktakeScans s JOIN Copies c USING (CopyID) "
            "WHERE s.StocktakeID = ? GROUP BY c.Barcode ORDER BY c.Barcode",
            (STOCKTAKE_ID,),
        ).fetchall()
    finally:
        conn.close()


def _at_the_shelf(page: Page, server: LiveServer, email: str, latency_ms: int = 0) -> None:
    log_in(page, server, email)
    page.goto(server.url(PAGE))
    page.get_by_label("Shelf you are scanning").select_option(SHELF)
    page.locator("#scan").focus()
    if latency_ms:
        emulate_latency(page, latency_ms)


def _log_lines(page: Page, count: int) -> list[str]:
    """The scan log's lines once ``count`` have their answers, newest first."""
    log = page.locator("#scan-log > li")
    expect(log).to_have_count(count, timeout=QUEUE_TIMEOUT_MS)
    answered = page.locator("#scan-log > li .flash[data-kind]")
    expect(answered).to_have_count(count, timeout=QUEUE_TIMEOUT_MS)
    return log.all_inner_texts()


def test_two_staff_scanning_one_shelf_at_once_on_a_slow_network_count_each_copy_once(
    start_server: Callable[..., LiveServer], open_page: Callable[..., Page]
):
    server = start_server(prepare=_library)
    bob, carol = open_page(), open_page()
    _at_the_shelf(bob, server, "bob@example.com", latency_ms=400)
    _at_the_shelf(carol, server, "carol@example.com", latency_ms=400)

    # Both walk the same shelf from opposite ends, each scanning every 100 ms or so.
    for mine, theirs in zip(COPIES, reversed(COPIES), strict=True):
        for page, code in ((bob, mine), (carol, theirs)):
            page.keyboard.type(code, delay=5)
            page.keyboard.press("Enter")
        bob.wait_for_timeout(100)

    lines = _log_lines(bob, len(COPIES)) + _log_lines(carol, len(COPIES))
    counted = [line for line in lines if "Counted: Shelf Book" in line]
    already = [line for line in lines if "Already counted" in line]
    assert len(counted) == len(COPIES) and len(already) == len(COPIES)
    assert _scans(server.database) == [(code, 1) for code in COPIES]
    # Each line names its code exactly as scanned: nothing merged or split.
    assert sorted(bob.locator("#scan-log .scan-code").all_inner_texts()) == COPIES
    expect(bob.locator("#stocktake-counted")).to_contain_text("8 copies counted so far")
    # The progress table is polled: both devices come to see the whole shelf done.
    for page in (bob, carol):
        expect(page.locator("#stocktake-progress")).to_contain_text(
            "8 of 8 expected copies scanned (100%)", timeout=15_000
        )
        expect(page.locator("#scan")).to_be_focused()


def test_a_stocktake_carries_on_after_the_server_restarts(
    demo_database_template: Path, tmp_path: Path, open_page: Callable[..., Page]
):
    with running_server(demo_database_template, tmp_path / "first", _library) as first:
        page = open_page()
        _at_the_shelf(page, first, "bob@example.com")
        _scan_like_a_scanner(page, COPIES[:3])
        _log_lines(page, 3)
        database = first.database
    assert _scans(database) == [(code, 1) for code in COPIES[:3]]

    # A new server process on the same database file, and another device.
    with serve_database(database, SHELFMARK_SECRET_KEY="another-secret") as base_url:
        second = LiveServer(base_url, database, tmp_path / "second.log")
        page = open_page()
        log_in(page, second, "carol@example.com")
        page.goto(second.url("/stocktakes"))
        page.get_by_role("link", name="continue scanning Shelf check").click()
        expect(page.locator("#stocktake-counted")).to_contain_text("3 copies counted so far")
        expect(page.locator("#stocktake-progress")).to_contain_text("3 of 8 expected copies")
        page.get_by_label("Shelf you are scanning").select_option(SHELF)
        page.locator("#scan").focus()
        _scan_like_a_scanner(page, COPIES[2:])
        lines = _log_lines(page, 6)
        assert (
            "Already counted: Shelf Book 3 (ST0003) was scanned before by Bob Johnson"
            in (lines[-1])
        )
        expect(page.locator("#stocktake-counted")).to_contain_text("8 copies counted so far")
    assert _scans(database) == [(code, 1) for code in COPIES]


def test_a_misplaced_copy_and_a_copy_on_loan_say_so_and_the_loan_is_checked_in_by_keyboard(
    start_server: Callable[..., LiveServer], open_page: Callable[..., Page]
):
    def library(conn: sqlite3.Connection) -> None:
        _library(conn)
        add_title(conn, "Elsewhere Book", ["ELSE-1"])
        conn.execute("UPDATE Copies SET Location = 'Reference' WHERE Barcode = 'ELSE-1'")
        alice = conn.execute("SELECT UserID FROM Users WHERE Email = 'alice@example.com'")
        conn.execute(
            "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) "
            "SELECT ?, BookID, CopyID, '2026-11-20', '2026-12-04' FROM Copies WHERE Barcode = ?",
            (alice.fetchone()[0], COPIES[0]),
        )

    server = start_server(prepare=library)
    page = open_page()
    _at_the_shelf(page, server, "bob@example.com", latency_ms=400)
    _scan_like_a_scanner(page, ["ELSE-1", COPIES[0], COPIES[1]])
    lines = _log_lines(page, 3)
    assert "Misplaced: Elsewhere Book (ELSE-1) belongs at Reference." in lines[2]
    assert "On loan: Shelf Book 1 (ST0001)" in lines[1]
    assert "Counted: Shelf Book 2" in lines[0]
    expect(page.locator("#scan-said")).to_contain_text("Counted: Shelf Book 2")
    assert serious_accessibility_violations(page) == []

    check_in = page.get_by_role("button", name="Check it in (ST0001)")
    check_in.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#scan-log > li").nth(1)).to_contain_text(
        "Returned: Shelf Book 1", timeout=QUEUE_TIMEOUT_MS
    )
    expect(check_in).to_have_count(0)
    expect(page.locator("#scan")).to_be_focused()
    conn = sqlite3.connect(server.database)
    try:
        out = conn.execute(
            "SELECT count(*) FROM Loans l JOIN Copies c USING (CopyID) "
            "WHERE c.Barcode = ? AND l.ReturnedAt IS NULL",
            (COPIES[0],),
        ).fetchone()[0]
    finally:
        conn.close()
    assert out == 0


def test_close_and_mark_missing_lost_ask_first_in_a_dialog(
    start_server: Callable[..., LiveServer], open_page: Callable[..., Page]
):
    server = start_server(prepare=_library)
    page = open_page()
    _at_the_shelf(page, server, "bob@example.com")
    _scan_like_a_scanner(page, COPIES[:6])
    _log_lines(page, 6)
    page.get_by_role("button", name="Close the stocktake").click()
    dialog = page.get_by_role("dialog", name="Close the stocktake “Shelf check”?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Close the stocktake").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Stocktake report: Shelf check")
    expect(page.locator("#flash")).to_contain_text("6 copies counted, 2 missing")
    expect(page.locator("#missing")).to_contain_text("ST0007")

    page.get_by_role("button", name="Mark the missing as lost").click()
    dialog = page.get_by_role("dialog", name="Mark the 2 missing copies lost?")
    dialog.get_by_role("button", name="Not now").click()
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Mark the missing as lost").click()
    page.get_by_role("dialog").get_by_role("button", name="Mark the missing as lost").click()
    expect(page.locator("#flash")).to_contain_text("Marked 2 missing copies lost.")
    expect(page.get_by_role("button", name="Mark the missing as lost")).to_have_count(0)


def test_the_stocktake_pages_work_on_a_dark_phone_and_without_javascript(
    start_server: Callable[..., LiveServer], open_page: Callable[..., Page]
):
    server = start_server(prepare=_library)
    page = open_page(**PHONE, dark=True)
    _at_the_shelf(page, server, "bob@example.com")
    _scan_like_a_scanner(page, [COPIES[0], "NO-SUCH-CODE"])
    _log_lines(page, 2)
    for path in ("/stocktakes", PAGE, f"{PAGE}/report", f"{PAGE}/close", f"{PAGE}/mark-lost"):
        if path != PAGE:
            page.goto(server.url(path))
        assert not has_horizontal_scroll(page), path
        assert serious_accessibility_violations(page) == [], path

    plain = open_page(**PHONE, javascript=False)
    log_in(plain, server, "carol@example.com")
    plain.goto(server.url(PAGE))
    plain.get_by_label("Shelf you are scanning").select_option(SHELF)
    plain.get_by_role("textbox", name="Scan a copy barcode").fill(COPIES[1])
    plain.get_by_role("textbox", name="Scan a copy barcode").press("Enter")
    expect(plain.locator("#stocktake-message")).to_contain_text("Counted: Shelf Book 2 (ST0002)")
    expect(plain.locator("#stocktake-progress")).to_contain_text("2 of 8 expected copies")
    expect(plain.get_by_label("Shelf you are scanning")).to_have_value(SHELF)
    plain.get_by_role("button", name="Close the stocktake").click()
    expect(plain.get_by_role("heading", level=1)).to_have_text("Close the stocktake “Shelf check”?")
    plain.get_by_role("link", name="Keep scanning").click()
    expect(plain.get_by_role("heading", level=1)).to_have_text("Stocktake: Shelf check")
    assert not has_horizontal_scroll(plain)
