"""Keyboard-only use: signing in and out, the skip link, the phone menu, visible focus."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import LiveServer

FOCUSED_CONTROL = """() => {
  const control = document.activeElement;
  if (control === document.body) return null;
  const style = getComputedStyle(control);
  return {
    name: control.id || control.textContent.trim(),
    outline: style.outlineStyle,
    width: parseFloat(style.outlineWidth),
  };
}"""


def test_signing_in_and_out_by_keyboard(server: LiveServer, page: Page):
    page.goto(server.url("/search"))
    expect(page.get_by_label("Search by title, author, subject or ISBN")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("link", name="Sign in")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_label("Email address")).to_be_focused()
    page.keyboard.type("alice@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type("not her password")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text(
        "That email and password do not match an active account."
    )
    expect(page.get_by_label("Email address")).to_have_value("alice@example.com")
    expect(page.get_by_label("Password")).to_be_focused()

    page.keyboard.type("demo")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("#flash")).to_have_text("Signed in as Alice Smith.")

    sign_out = page.get_by_role("button", name="Sign out Alice Smith")
    for _ in range(12):
        page.keyboard.press("Tab")
        if sign_out.evaluate("button => button === document.activeElement"):
            break
    expect(sign_out).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#flash")).to_have_text("You have signed out.")
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()


def test_the_skip_link_is_the_first_stop_and_moves_focus_to_the_content(
    shared_server: LiveServer, page: Page
):
    page.goto(shared_server.url("/books/1"))
    page.keyboard.press("Tab")
    skip_link = page.get_by_role("link", name="Skip to content")
    expect(skip_link).to_be_focused()
    expect(skip_link).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.get_by_role("main")).to_be_focused()


def test_the_phone_menu_opens_and_is_followed_by_keyboard(shared_server: LiveServer, open_page):
    page: Page = open_page(width=360, height=740)
    page.goto(shared_server.url("/books/1"))
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Shelfmark Library")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("details.menu > summary")).to_be_focused()
    page.keyboard.press("Enter")
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation).to_be_visible()
    page.keyboard.press("Tab")
    expect(navigation.get_by_role("link", name="Search")).to_be_focused()
    page.keyboard.press("Tab")
    expect(navigation.get_by_role("link", name="Sign in")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Email address")).to_be_focused()


def test_every_control_shows_a_clear_focus_ring(shared_server: LiveServer, open_page):
    for dark in (False, True):
        page: Page = open_page(dark=dark)
        page.goto(shared_server.url("/login"))
        expect(page.get_by_label("Email address")).to_be_focused()
        seen = set()
        # Round the whole tab order once: the form, then (after the browser's own
        # stop, where nothing in the page has focus) the header, back to the form.
        for _ in range(10):
            page.keyboard.press("Tab")
            focused = page.evaluate(FOCUSED_CONTROL)
            if focused is None:
                continue
            seen.add(focused["name"])
            assert focused["outline"] != "none" and focused["width"] >= 2, focused
        assert seen == {
            "Skip to content",
            "Shelfmark Library",
            "Search",
            "Sign in",
            "email",
            "password",
            "Forgot your password?",
        }
