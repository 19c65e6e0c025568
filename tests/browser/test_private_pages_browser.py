"""After signing out, Back must not show what the signed-in pages showed (issue 17, item 5)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import LiveServer, log_in


def test_back_after_signing_out_shows_nothing_of_the_patron(server: LiveServer, page: Page):
    log_in(page, server, "alice@example.com")
    page.goto(server.url("/account"))
    expect(page.get_by_role("heading", name="My account")).to_be_visible()

    page.get_by_role("button", name="Sign out Alice Smith").click()
    expect(page.locator("#flash")).to_contain_text("You have signed out")

    page.go_back()
    expect(page).to_have_url(re.compile(r"/login\?next=/account$"))
    expect(page.get_by_role("heading", name="My account")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Sign out"))).to_have_count(0)
