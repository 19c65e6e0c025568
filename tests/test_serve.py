"""``shelfmark serve`` with several workers: it starts them, stops them all on SIGTERM,
and refuses settings that would run the nightly job once per worker."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess

from .server import launch_server, wait_until_up

WORKER_LISTENING = re.compile(r"\[(\d+)\] \[INFO\] hypercorn\.error: Running on ")


def _exit_code(server: subprocess.Popen) -> int:
    """How the server exited, within 30 s; one still running is stopped and fails the test."""
    try:
        return server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        raise AssertionError("shelfmark serve started instead of refusing") from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_workers_serve_and_sigterm_stops_every_one_of_them(database_path, tmp_path):
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        server, port = launch_server(database_path, log, SHELFMARK_WORKERS="2")
    try:
        wait_until_up(f"http://127.0.0.1:{port}", server, log_path, workers=2)
        workers = {int(pid) for pid in WORKER_LISTENING.findall(log_path.read_text())}
        assert len(workers) == 2 and server.pid not in workers
        assert all(_alive(pid) for pid in workers)

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert not any(_alive(pid) for pid in workers)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "something still listens on the port"


def test_the_in_process_scheduler_with_several_workers_is_refused_with_what_to_do(
    database_path, tmp_path
):
    with open(tmp_path / "server.log", "wb") as log:
        server, _ = launch_server(
            database_path, log, SHELFMARK_WORKERS="2", SHELFMARK_IN_PROCESS_SCHEDULER="true"
        )
    assert _exit_code(server) == 2
    output = (tmp_path / "server.log").read_text()
    assert "needs SHELFMARK_WORKERS=1" in output and "shelfmark scheduler" in output
    assert "Running on" not in output


def test_no_workers_is_refused(database_path, tmp_path):
    with open(tmp_path / "server.log", "wb") as log:
        server, _ = launch_server(database_path, log, SHELFMARK_WORKERS="0")
    assert _exit_code(server) == 2
    assert "SHELFMARK_WORKERS must be 1 or more" in (tmp_path / "server.log").read_text()
