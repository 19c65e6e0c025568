"""Browser tests: a real ``shelfmark serve`` per test, driven by Debian's headless Chromium.

Fixtures for every browser scenario:

- ``server``: a Hypercorn server of the app for this test alone, on a free port with its
  own copy of the demo database (``server.url("/search")``, ``server.database``).
- ``shared_server``: one such server for the whole run, for tests that change no data.
- ``start_server(prepare=None, **env)``: a server with extra ``SHELFMARK_*`` settings,
  e.g. ``start_server(SHELFMARK_SEARCH_CACHE_ENTRIES="0")``; ``prepare(conn)`` first adds
  the rows a scenario needs to its database (``add_patron``, ``add_title``, ``add_loan``).
- ``page``: a 1280×800 light-scheme page; ``open_page(width=…, height=…, dark=…,
  javascript=…)`` opens more. A page that breaks the Content-Security-Policy or
  asks another host for anything fails its test.
- ``log_in(page, server, email)``: signs in through the real form, by keyboard.

Helpers: ``has_horizontal_scroll(page)``, ``serious_accessibility_violations(page)``
(axe-core) and ``save_screenshot(page, name)`` (docs/screenshots/NAME.png, written only
when the page looks different from the picture there).

A new page joins the phone, menu and axe checks through ``MAIN_PAGES`` in
test_responsive_a11y.py and the README's pictures through ``SCREENSHOTS`` in
test_screenshots.py; its own scenarios go in a module of its own, using
``server`` when they change data. Wait with ``expect(...)``, never with sleeps.

Without /usr/bin/chromium the tests are skipped with the install command; with
``CI=true`` a missing browser fails them instead.
"""

from __future__ import annotations

import functools
import io
import itertools
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, expect, sync_playwright

from webapp import demo
from webapp.db import connect_sync, migrate
from webapp.resources import MIGRATIONS

from ..conftest import REPO, TEST_TODAY

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and nothing that phones home: the tests must reach only 127.0.0.1.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-gpu",
]
INSTALL_HINT = (
    "Browser tests need Debian's Chromium at /usr/bin/chromium: "
    "run `make browser-deps` (apt-get install chromium)"
)
SCREENSHOTS = REPO / "docs" / "screenshots"
AXE_SCRIPT = Path(__file__).parent / "vendor" / "axe.min.js"
SERVER_START_SECONDS = 30
# Long enough for a slow CI machine, short enough that a broken page fails fast.
EXPECT_TIMEOUT_MS = 5_000

expect.set_options(timeout=EXPECT_TIMEOUT_MS)


def require_chromium() -> None:
    """Skip without Chromium on a developer's machine; fail in CI, where it must exist."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but Chromium is missing. {INSTALL_HINT}", pytrace=False)
    pytest.skip(INSTALL_HINT)


@dataclass(frozen=True)
class LiveServer:
    """A running ``shelfmark serve`` process."""

    base_url: str
    database: Path
    log: Path

    def url(self, path: str = "/") -> str:
        return self.base_url + path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_healthy(process: subprocess.Popen, base_url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"shelfmark serve exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"shelfmark serve did not answer /healthz:\n{log.read_text()}")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def demo_database_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo library, built once; each server gets its own copy."""
    path = tmp_path_factory.mktemp("demo") / "template.sqlite3"
    conn = connect_sync(path)
    migrate(conn, MIGRATIONS)
    demo.load(conn, books=60, patrons=20, seed=7, today=TEST_TODAY, show_progress=False)
    conn.close()
    return path


@contextmanager
def running_server(
    template: Path,
    folder: Path,
    prepare: Callable[[sqlite3.Connection], None] | None = None,
    **environment: str,
) -> Iterator[LiveServer]:
    """``shelfmark serve`` on a free port with its own copy of ``template``, until exit;
    ``prepare(conn)`` changes that copy before the server opens it."""
    folder.mkdir(parents=True)
    database = folder / "shelfmark.sqlite3"
    shutil.copyfile(template, database)
    if prepare is not None:
        conn = connect_sync(database)
        try:
            prepare(conn)
        finally:
            conn.close()
    log = folder / "server.log"
    port = _free_port()
    env = {
        **os.environ,
        "SHELFMARK_DATABASE": str(database),
        "SHELFMARK_SECRET_KEY": "browser-test-secret",
        "SHELFMARK_IN_PROCESS_SCHEDULER": "false",
        # No internet in tests: ISBN lookups and covers only from a local stand-in.
        "SHELFMARK_OPENLIBRARY_URL": "",
        "SHELFMARK_OPENLIBRARY_COVERS_URL": "",
        **environment,
    }
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "webapp.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=folder,
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_healthy(process, base_url, log)
        yield LiveServer(base_url, database, log)
    finally:
        _stop(process)


@pytest.fixture
def start_server(
    demo_database_template: Path, tmp_path: Path
) -> Iterator[Callable[..., LiveServer]]:
    """Start another server for this test; keyword arguments are extra environment
    variables, e.g. ``start_server(SHELFMARK_SEARCH_CACHE_ENTRIES="0")``, and
    ``prepare(conn)`` adds the scenario's rows to its database first."""
    numbers = itertools.count(1)
    with ExitStack() as servers:

        def start(
            prepare: Callable[[sqlite3.Connection], None] | None = None, **environment: str
        ) -> LiveServer:
            folder = tmp_path / f"server-{next(numbers)}"
            return servers.enter_context(
                running_server(demo_database_template, folder, prepare, **environment)
            )

        yield start


@pytest.fixture
def server(demo_database_template: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """A server and database of this test's own: use it whenever the test changes data."""
    with running_server(demo_database_template, tmp_path / "server") as live:
        yield live


@pytest.fixture(scope="session")
def shared_server(
    demo_database_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server for all the tests that change no data (signing in is fine)."""
    folder = tmp_path_factory.mktemp("shared") / "server"
    with running_server(demo_database_template, folder) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module (pages get fresh contexts)."""
    require_chromium()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Open a page in a fresh browser context (own cookies, storage, history).

    The test fails if any page breaks the Content-Security-Policy or requests
    anything from another host: every asset must be served by the app.
    """
    contexts = []
    violations: list[str] = []
    outside_requests: list[str] = []

    def record_csp_violation(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    def record_outside_request(request: Request) -> None:
        if not request.url.startswith(("http://127.0.0.1:", "data:")):
            outside_requests.append(request.url)

    def open_page(
        *,
        width: int = 1280,
        height: int = 800,
        dark: bool = False,
        javascript: bool = True,
    ) -> Page:
        context = browser.new_context(
            viewport={"width": width, "height": height},
            color_scheme="dark" if dark else "light",
            # Still pictures and no transitions to wait out.
            reduced_motion="reduce",
            java_script_enabled=javascript,
        )
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        contexts.append(context)
        context.on("request", record_outside_request)
        new_page = context.new_page()
        new_page.on("console", record_csp_violation)
        return new_page

    yield open_page
    for context in contexts:
        context.close()
    assert not violations, f"the page broke its Content-Security-Policy: {violations}"
    assert not outside_requests, f"the page loaded something from elsewhere: {outside_requests}"


@pytest.fixture
def page(open_page: Callable[..., Page]) -> Page:
    return open_page()


def emulate_latency(page: Page, latency_ms: int) -> None:
    """Add ``latency_ms`` of round-trip time to every request of ``page`` (Chrome
    DevTools network emulation), as a school's slow network does."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": latency_ms, "downloadThroughput": -1, "uploadThroughput": -1},
    )


def log_in(page: Page, server: LiveServer, email: str, password: str = demo.DEMO_PASSWORD) -> None:
    """Sign in through the login form using only the keyboard."""
    page.goto(server.url("/login"))
    expect(page.get_by_label("Email address")).to_be_focused()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    expect(page.locator("#flash")).to_contain_text("Signed in as")


def has_horizontal_scroll(page: Page) -> bool:
    return page.evaluate(
        "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )


@functools.cache
def _axe_source() -> str:
    return AXE_SCRIPT.read_text(encoding="utf-8")


def serious_accessibility_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now.

    axe is evaluated through the DevTools protocol, which the page's CSP does
    not govern (a <script> tag would rightly be refused), so the page keeps
    its real policy while it is checked.
    """
    if not page.evaluate("() => 'axe' in window"):
        page.evaluate(_axe_source())
    results = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} — "
        + "; ".join(
            f"{node['target'][0]}: {node['failureSummary']}" for node in violation["nodes"][:3]
        )
        for violation in results
        if violation["impact"] in {"serious", "critical"}
    ]


def save_screenshot(page: Page, name: str) -> Path:
    """Write docs/screenshots/NAME.png, the pictures the README shows, when the page
    looks different from the picture already there (``screenshot_changed``)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    taken = page.screenshot(animations="disabled", caret="hide")
    if not path.exists() or screenshot_changed(path.read_bytes(), taken):
        path.write_bytes(taken)
    return path


# A page drawn again differs from its last picture by a little anti-aliasing noise, which
# would rewrite every picture on every run: a picture counts as changed when more than
# this share of its pixels differs by more than PIXEL_TOLERANCE in some colour channel.
CHANGED_SHARE = 0.001
PIXEL_TOLERANCE = 24


def screenshot_changed(old_png: bytes, new_png: bytes) -> bool:
    """Whether two PNG screenshots show a different page (another size, or more than
    CHANGED_SHARE of the pixels visibly different)."""
    with Image.open(io.BytesIO(old_png)) as old, Image.open(io.BytesIO(new_png)) as new:
        if old.size != new.size:
            return True
        difference = ImageChops.difference(old.convert("RGB"), new.convert("RGB"))
    red, green, blue = difference.split()
    largest = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    changed = sum(largest.histogram()[PIXEL_TOLERANCE + 1 :])
    return changed > CHANGED_SHARE * old.size[0] * old.size[1]


def add_patron(
    conn: sqlite3.Connection, name: str, card: str, email: str | None = None, role: str = "Student"
) -> int:
    """A new active patron with nothing on loan; with an email they sign in with the demo
    password (the hash is the demo users' own, so no slow hashing here)."""
    password_hash = conn.execute(
        "SELECT PasswordHash FROM Users WHERE Email = 'alice@example.com'"
    ).fetchone()[0]
    return conn.execute(
        "INSERT INTO Users (Name, Role, Email, CardNumber, PasswordHash) VALUES (?, ?, ?, ?, ?)",
        (name, role, email, card, password_hash if email else None),
    ).lastrowid


def add_title(conn: sqlite3.Connection, title: str, barcodes: list[str]) -> list[int]:
    """A new title with a copy on the shelf for each barcode; returns the copies' ids."""
    book_id = conn.execute("INSERT INTO Books (Title) VALUES (?)", (title,)).lastrowid
    return [
        conn.execute(
            "INSERT INTO Copies (BookID, Barcode) VALUES (?, ?)", (book_id, barcode)
        ).lastrowid
        for barcode in barcodes
    ]


def add_loan(conn: sqlite3.Connection, user_id: int, copy_id: int, lent: date, due: date) -> int:
    """An open loan of that copy to that patron."""
    return conn.execute(
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) "
        "SELECT ?, BookID, CopyID, ?, ? FROM Copies WHERE CopyID = ?",
        (user_id, lent.isoformat(), due.isoformat(), copy_id),
    ).lastrowid
