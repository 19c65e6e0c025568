"""``shelfmark serve`` and friends as real processes: refusing a database they cannot use,
logging, the access log, and the client's address behind trusted proxies."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import urllib.request

import httpx
import pytest

from .server import running_server
from .unprivileged import as_another_user, make_read_only, shared_folder

LOG_LINE = re.compile(
    r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] "
    r"\[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] [\w.]+: "
)


def serve_and_wait(database, *prefix: str, **environment: str) -> subprocess.CompletedProcess:
    """Run ``shelfmark serve`` expecting it to stop by itself within 30 s."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "webapp.cli", "serve", "--port", "1"],
        env={
            **os.environ,
            "SHELFMARK_DATABASE": str(database),
            "SHELFMARK_SECRET_KEY": "test-secret",
            **environment,
        },
        capture_output=True,
        text=True,
        timeout=30,
    )


def assert_refused_with_one_line(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Cannot serve: the database ")
    assert all(word in lines[0] for word in words), lines[0]
    assert "Running on" not in result.stderr + result.stdout


def test_serve_refuses_a_file_that_is_not_a_database(tmp_path):
    database = tmp_path / "library.sqlite3"
    database.write_bytes(b"this is a spreadsheet, not a database" * 200)
    assert_refused_with_one_line(serve_and_wait(database), "file is not a database")


def test_serve_refuses_a_folder_it_cannot_create(tmp_path):
    (tmp_path / "instance").write_text("a file where the folder should be")
    database = tmp_path / "instance" / "data" / "library.sqlite3"
    assert_refused_with_one_line(serve_and_wait(database), "Not a directory")


def test_serve_refuses_a_read_only_folder_without_the_database():
    with shared_folder() as folder:
        make_read_only(folder)
        result = serve_and_wait(folder / "library.sqlite3", *as_another_user())
        assert_refused_with_one_line(result, "unable to open database file")
        assert not (folder / "library.sqlite3").exists()


def test_a_bad_log_level_is_a_clear_settings_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "webapp.cli", "--database", str(tmp_path / "x"), "init-db"],
        env={**os.environ, "SHELFMARK_LOG_LEVEL": "chatty"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "SHELFMARK_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL" in (
        result.stderr
    )


def test_serve_logs_with_time_level_and_logger_and_the_access_log_by_default(
    demo_database, tmp_path
):
    log_path = tmp_path / "server.log"
    with running_server(demo_database, log_path) as base_url:
        urllib.request.urlopen(f"{base_url}/search?q=gatsby").close()
    lines = log_path.read_text().splitlines()
    assert lines and all(LOG_LINE.match(line) for line in lines), lines
    assert any("[INFO] shelfmark: Shelfmark on http://" in line for line in lines)
    assert any("[INFO] hypercorn.error: Running on" in line for line in lines)
    assert any("hypercorn.access: 127.0.0.1:" in line and '"GET /search ' in line for line in lines)


def test_the_access_log_goes_to_a_file_and_stays_with_a_quieter_level(demo_database, tmp_path):
    log_path, access_path = tmp_path / "server.log", tmp_path / "access.log"
    with running_server(
        demo_database,
        log_path,
        SHELFMARK_ACCESS_LOG=str(access_path),
        SHELFMARK_LOG_LEVEL="WARNING",
    ) as base_url:
        urllib.request.urlopen(f"{base_url}/search?q=gatsby").close()
    server_output = log_path.read_text()
    assert "hypercorn.access" not in server_output
    assert "Running on" not in server_output and "[INFO]" not in server_output
    access = access_path.read_text()
    assert '"GET /search ' in access and '"GET /healthz ' in access


def test_the_access_log_can_be_turned_off(demo_database, tmp_path):
    log_path = tmp_path / "server.log"
    with running_server(demo_database, log_path, SHELFMARK_ACCESS_LOG="off") as base_url:
        urllib.request.urlopen(f"{base_url}/search?q=gatsby").close()
    output = log_path.read_text()
    assert "Running on" in output
    assert "hypercorn.access" not in output and "GET /search" not in output


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


def _fail_a_login(base_url: str) -> None:
    """One wrong password, sent with a proxy's X-Forwarded-For header."""
    with httpx.Client(base_url=base_url, headers=FORWARDED) as client:
        page = client.get("/login").text
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        response = client.post(
            "/login",
            data={"email": "alice@example.com", "password": "wrong password", "csrf_token": token},
        )
        assert response.status_code == 401


def _failed_login_addresses(database) -> list[str]:
    conn = sqlite3.connect(database)
    try:
        return [row[0] for row in conn.execute("SELECT Address FROM LoginFailures")]
    finally:
        conn.close()


@pytest.mark.parametrize(("proxies", "seen_as"), [("1", "203.0.113.7"), ("0", "127.0.0.1")])
def test_the_client_address_comes_from_a_trusted_proxy_only(
    demo_database, tmp_path, proxies, seen_as
):
    log_path = tmp_path / "server.log"
    with running_server(
        demo_database,
        log_path,
        SHELFMARK_TRUSTED_PROXIES=proxies,
        SHELFMARK_METRICS_ALLOW="203.0.113.7",
    ) as base_url:
        _fail_a_login(base_url)
        metrics = httpx.get(f"{base_url}/metrics", headers=FORWARDED)
    # Login throttling counts failures by the address the app sees.
    assert _failed_login_addresses(demo_database) == [seen_as]
    # The access log names the proxy first, then (when trusted) who it forwarded for.
    access = [line for line in log_path.read_text().splitlines() if '"POST /login ' in line]
    assert len(access) == 1 and "hypercorn.access: 127.0.0.1:" in access[0]
    assert access[0].endswith('"203.0.113.7"') == (proxies == "1"), access[0]
    # The metrics allow-list matches the client behind the proxy, not the proxy.
    assert metrics.status_code == (200 if proxies == "1" else 302)


def test_a_trusted_proxy_cannot_be_skipped_by_a_client_sending_its_own_header(
    demo_database, tmp_path
):
    """A client's own X-Forwarded-For comes first; one proxy appends the real address."""
    log_path = tmp_path / "server.log"
    forwarded = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}
    with (
        running_server(demo_database, log_path, SHELFMARK_TRUSTED_PROXIES="1") as base_url,
        httpx.Client(base_url=base_url, headers=forwarded) as client,
    ):
        page = client.get("/login").text
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        client.post(
            "/login",
            data={"email": "alice@example.com", "password": "nope-nope", "csrf_token": token},
        )
    assert _failed_login_addresses(demo_database) == ["203.0.113.7"]
