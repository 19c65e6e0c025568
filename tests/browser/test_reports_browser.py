"""The reports page in a browser: reached from the dashboard, a period sent with Enter
with JavaScript off, a reversed period refused beside its field, a CSV file downloaded."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import LiveServer, log_in


def test_a_period_sent_with_enter_without_javascript(shared_server: LiveServer, open_page):
    page: Page = open_page(javascript=False)
    log_in(page, shared_server, "bob@example.com")
    page.goto(shared_server.url("/dashboard"))
    page.get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reports")

    # Date fields are filled as a date picker would; the form is sent with Enter.
    page.get_by_label("First day").fill("2025-01-01")
    page.get_by_label("Last day").fill("2025-12-31")
    years = page.get_by_label("Weeding list: not borrowed for this many years")
    years.fill("2")
    years.press("Enter")

    expect(page).to_have_url(re.compile(r"/reports\?from=2025-01-01&to=2025-12-31&years=2$"))
    expect(page.locator("#report-period")).to_contain_text(
        "From 1 January 2025 to 31 December 2025"
    )
    expect(page.get_by_role("heading", name="Not borrowed for 2 years")).to_be_visible()
    months = page.get_by_role("table", name="Loans by month")
    expect(months.locator("tbody tr")).to_have_count(12)
    expect(page.get_by_role("img", name=re.compile("^Loans by month, 1 Jan 2025"))).to_be_visible()

    with page.expect_download() as download:
        page.get_by_role("link", name="Download “Loans by class” as CSV").click()
    assert download.value.suggested_filename == "loans-by-class-2025-01-01-to-2025-12-31.csv"

    page.goto(shared_server.url("/reports?from=2025-12-31&to=2025-01-01"))
    expect(page.get_by_role("alert")).to_contain_text("Please correct the field")
    last_day = page.get_by_label("Last day")
    expect(last_day).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-to-error")).to_contain_text("The last day is before the first day")
