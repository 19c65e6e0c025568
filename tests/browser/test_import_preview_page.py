"""The import preview page (#22): its sample rows and grouped reasons fit a 360 px phone
and pass axe-core in light and dark mode."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import LiveServer, has_horizontal_scroll, log_in, serious_accessibility_violations

PHONE = {"width": 360, "height": 740}
ROWS = (
    "title,author,isbn,year,copies,barcodes\n"
    "A Long Title About Gardens And The People Who Keep Them,Someone Quite Long-Named,,1999,2,\n"
    "Second Book,Another Author,,2001,1,NEWCODE-1\n"
    ",Nobody,,2001,1,\n"
    "Year Unknown,Someone,,soon,1,\n"
    "Year Unknown Too,Someone,,later,1,\n"
    "The Great Gatsby,F. Scott Fitzgerald,9780743273565,1925,1,\n"
)


def test_the_import_preview_on_a_light_phone_and_a_dark_wide_screen(
    server: LiveServer, open_page, tmp_path: Path
):
    source = tmp_path / "books.csv"
    source.write_text(ROWS, encoding="utf-8")
    page: Page = open_page(**PHONE)
    log_in(page, server, "bob@example.com")
    page.goto(server.url("/admin/import"))
    page.get_by_label("Books (CSV)").check()
    page.locator("input[type=file]").set_input_files(source)
    page.get_by_role("button", name="Upload and preview").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Check the import")
    expect(page.get_by_text("The import will create 3 copies")).to_be_visible()
    expect(
        page.get_by_role("table", name="The first rows, as they will be imported")
    ).to_be_visible()
    reasons = page.get_by_role("table", name="Rows that will not be imported")
    expect(reasons).to_contain_text("is not a number")
    assert not has_horizontal_scroll(page)
    assert serious_accessibility_violations(page) == []

    page.set_viewport_size({"width": 1280, "height": 800})
    page.emulate_media(color_scheme="dark")
    page.reload()
    expect(reasons).to_be_visible()
    assert not has_horizontal_scroll(page)
    assert serious_accessibility_violations(page) == []
