"""Withdrawing a title and cancelling a hold at the desk ask first: a small dialog with
JavaScript, a page of its own without; "keep it" changes nothing."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
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

PHONE = {"width": 360, "height": 740}


def _gina_waits(conn: sqlite3.Connection) -> None:
    today = date.today()
    alice = conn.execute("SELECT UserID FROM Users WHERE Email = 'alice@example.com'").fetchone()[0]
    gina = add_patron(conn, "Gina Hold", "S7001", "gina@example.com")
    (copy_id,) = add_title(conn, "Zephyr Tales", ["Z1"])
    add_loan(conn, alice, copy_id, today - timedelta(days=2), today + timedelta(days=12))
    conn.execute(
        "INSERT INTO Holds (UserID, BookID) SELECT ?, BookID FROM Copies WHERE CopyID = ?",
        (gina, copy_id),
    )


def _at_the_desk_with_gina(page: Page, server: LiveServer) -> None:
    log_in(page, server, "bob@example.com")
    page.goto(server.url("/desk"))
    page.locator("#scan").fill("S7001")
    page.locator("#scan").press("Enter")
    expect(page.locator("#patron-panel h2")).to_have_text("Gina Hold")


def test_withdrawing_a_title_asks_in_a_dialog_first(server: LiveServer, page: Page):
    log_in(page, server, "bob@example.com")
    page.goto(server.url("/books/2/edit"))
    withdraw = page.get_by_role("button", name="Withdraw this title")
    withdraw.click()
    dialog = page.get_by_role("dialog", name="Withdraw “1984”?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Keep it")).to_be_focused()
    assert serious_accessibility_violations(page) == []
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(withdraw).to_be_focused()
    page.goto(server.url("/books/2"))
    expect(page.get_by_text("has been withdrawn")).to_have_count(0)

    page.goto(server.url("/books/2/edit"))
    page.get_by_role("button", name="Withdraw this title").click()
    page.get_by_role("dialog").get_by_role("button", name="Withdraw this title").click()
    expect(page).to_have_url(re.compile(r"/books/2$"))
    expect(page.get_by_text("This title has been withdrawn")).to_be_visible()


def test_without_javascript_withdrawing_asks_on_a_page_of_its_own(
    server: LiveServer, open_page: Callable[..., Page]
):
    page = open_page(javascript=False, **PHONE)
    page.goto(server.url("/login"))
    page.get_by_label("Email address").fill("bob@example.com")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()
    page.goto(server.url("/books/2/edit"))
    page.get_by_role("button", name="Withdraw this title").click()
    expect(page).to_have_url(re.compile(r"/books/2/withdraw$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Withdraw “1984”?")
    assert not has_horizontal_scroll(page)
    page.get_by_role("link", name="Keep it").click()
    expect(page).to_have_url(re.compile(r"/books/2/edit$"))

    page.get_by_role("button", name="Withdraw this title").click()
    page.get_by_role("button", name="Withdraw this title").click()
    expect(page).to_have_url(re.compile(r"/books/2$"))
    expect(page.get_by_text("This title has been withdrawn")).to_be_visible()


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_cancelling_a_hold_at_the_desk_asks_in_a_dialog_first(
    dark: bool, start_server: Callable[..., LiveServer], open_page: Callable[..., Page]
):
    server = start_server(prepare=_gina_waits)
    page = open_page(dark=dark, **PHONE)
    _at_the_desk_with_gina(page, server)
    holds = page.locator("#desk-holds")
    holds.get_by_role("button", name=re.compile(r"Cancel hold\W+Zephyr Tales")).click()
    dialog = page.get_by_role("dialog", name="Cancel Gina Hold's hold on “Zephyr Tales”?")
    expect(dialog).to_be_visible()
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert serious_accessibility_violations(page) == []
    dialog.get_by_role("button", name="Keep the hold").click()
    expect(holds).to_contain_text("Zephyr Tales")

    holds.get_by_role("button", name=re.compile(r"Cancel hold\W+Zephyr Tales")).click()
    dialog.get_by_role("button", name="Cancel the hold").click()
    expect(page.locator("#desk-message")).to_contain_text("Hold cancelled: Zephyr Tales.")
    expect(page.locator("#desk-holds")).to_have_count(0)


def test_without_javascript_cancelling_a_hold_asks_on_a_page_of_its_own(
    start_server: Callable[..., LiveServer], open_page: Callable[..., Page]
):
    server = start_server(prepare=_gina_waits)
    page = open_page(javascript=False)
    page.goto(server.url("/login"))
    page.get_by_label("Email address").fill("bob@example.com")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()
    page.goto(server.url("/desk"))
    page.locator("#scan").fill("S7001")
    page.locator("#scan").press("Enter")
    page.get_by_role("button", name=re.compile(r"Cancel hold\W+Zephyr Tales")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Cancel Gina Hold's hold on “Zephyr Tales”?"
    )
    page.get_by_role("button", name="Cancel the hold").click()
    expect(page).to_have_url(re.compile(r"/desk$"))
    expect(page.locator("#desk-message")).to_contain_text("Hold cancelled: Zephyr Tales.")
