"""A real Hypercorn server on a free port, for concurrency, browser and benchmark runs.

``running_server(database)`` starts ``shelfmark serve`` in a subprocess against
the given SQLite file, waits until /healthz answers, yields the base URL, and
stops the server afterwards. Its output goes to a log file, whose tail is shown
if the server does not come up.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

STARTUP_SECONDS = 30


def free_port() -> int:
    """A TCP port nobody is listening on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(
    base_url: str, process: subprocess.Popen, log_path: Path, workers: int = 1
) -> None:
    """Until /healthz answers and, with several workers, every one of them listens."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=1) as response:
                if response.status == 200 and (
                    workers == 1 or log_path.read_text().count("Running on") >= workers
                ):
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    tail = log_path.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"the server at {base_url} did not start:\n{tail}")


def launch_server(
    database: Path, log: BinaryIO, **environment: str
) -> tuple[subprocess.Popen, int]:
    """``shelfmark serve`` for ``database`` on a free port, its output to ``log``; returns at
    once with the process and its port. The process leads a session of its own, so that
    whatever happens its workers can be stopped with it (``os.killpg``)."""
    port = free_port()
    env = {
        **os.environ,
        "SHELFMARK_DATABASE": str(database),
        "SHELFMARK_SECRET_KEY": "test-secret-for-a-real-server",
        # No internet in tests: ISBN lookups and covers are off.
        "SHELFMARK_OPENLIBRARY_URL": "",
        "SHELFMARK_OPENLIBRARY_COVERS_URL": "",
        **environment,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, port


@contextmanager
def running_server(
    database: Path, log_path: Path | None = None, **environment: str
) -> Iterator[str]:
    """Serve ``database`` with Hypercorn on a free port; yields ``http://127.0.0.1:<port>``.

    ``environment`` adds ``SHELFMARK_*`` variables (e.g. ``SHELFMARK_SEARCH_CACHE_ENTRIES="0"``);
    with ``SHELFMARK_WORKERS`` above 1 it yields once every worker listens. The server's
    output goes to ``log_path`` when given (and is kept), else to a temporary file
    removed afterwards.
    """
    keep_log = log_path is not None
    if log_path is None:
        with tempfile.NamedTemporaryFile(
            prefix="shelfmark-server-", suffix=".log", delete=False
        ) as log:
            log_path = Path(log.name)
    with open(log_path, "wb") as log:
        process, port = launch_server(database, log, **environment)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base_url, process, log_path, int(environment.get("SHELFMARK_WORKERS", "1")))
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if not keep_log:
            log_path.unlink(missing_ok=True)
