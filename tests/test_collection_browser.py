"""The book form in a real browser against a real server: htmx swaps errors in place, and
the same form works with JavaScript turned off."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from .conftest import REPO

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make browser-deps)")


@pytest.fixture
def live_server(demo_database):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "SHELFMARK_DATABASE": str(demo_database), "SHELFMARK_SECRET_KEY": "browser-test"}
    server = subprocess.Popen(
        [sys.executable, "-m", "webapp.cli", "serve", "--port", str(port)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the server did not start")
        yield base
    finally:
        server.terminate()
        server.wait(10)


async def sign_in(page, base):
    await page.goto(base + "/login")
    await page.fill("#email", "bob@example.com")
    await page.fill("#password", "demo")
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r".*/dashboard"))


async def test_errors_swap_in_place_with_htmx_and_work_without_javascript(live_server):
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = await browser.new_page()
            await sign_in(page, live_server)
            await page.goto(live_server + "/books/new")
            navigations = []
            page.on("framenavigated", lambda frame: navigations.append(frame.url))
            await page.fill("#f-title", "Kindred")
            await page.fill("#f-isbn", "0-8070-8305-9")  # wrong check digit (the right one is 4)
            await page.click("#book-form button[type=submit]")
            error = page.locator("#f-isbn-error")
            await error.wait_for()
            assert "is not a valid ISBN" in await error.inner_text()
            assert await page.input_value("#f-title") == "Kindred"
            assert await page.evaluate("document.activeElement.id") == "f-isbn"  # focus on the mistake
            assert navigations == []  # swapped in place, no page load
            await page.fill("#f-isbn", "0-8070-8305-4")
            await page.click("#book-form button[type=submit]")
            await page.wait_for_url(re.compile(r".*/books/\d+$"))
            assert "978-0-8070-8305-5" in await page.content()

            no_js = await browser.new_context(java_script_enabled=False)
            plain = await no_js.new_page()
            await sign_in(plain, live_server)
            await plain.goto(live_server + "/books/new")
            await plain.fill("#f-title", "Kindred again")
            await plain.fill("#f-isbn", "9780807083055")
            response_status = []
            plain.on("response", lambda response: response_status.append(response.status))
            await plain.click("#book-form button[type=submit]")
            await plain.wait_for_load_state()
            assert 422 in response_status
            assert "Add a copy to the existing book" in await plain.locator("#f-isbn-error").inner_text()
            await no_js.close()
        finally:
            await browser.close()
