"""The production image and compose stack, built and run for real on a private Docker engine.

No Docker engine runs on the test machines and no image registry is reachable,
so the session starts its own engine (Debian's ``dockerd``) in a temporary
folder, builds a base image from Debian packages with ``debootstrap``, builds
the wheelhouse on this machine (containers do not trust its network) and then
the image from it, with the build's network switched off. The stack runs from
docker-compose.yml plus docker-compose.ci.yml (no Mailpit: its image cannot be
pulled). Everything is stopped and removed at the end, also when a step fails.

Deselect with ``-m "not docker"``. Without the tools (or root) the tests are
skipped, unless CI=true: CI must run them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parent.parent
TOOLS = ("dockerd", "docker", "docker-compose", "debootstrap")
BASE_IMAGE = "local/debian-python:bookworm"
BASE_PACKAGES = "python3,python3-venv,ca-certificates"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# Left out of the base image: documentation, translations and apt's downloads.
BASE_EXCLUDES = (
    "./var/cache/apt/archives",
    "./var/lib/apt/lists",
    "./usr/share/doc",
    "./usr/share/locale",
    "./usr/share/man",
)
PROJECT = "shelfmark-ci"
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.ci.yml")
SECRET_KEY = "ci-secret-key-not-for-production"


def _unavailable() -> str | None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return (
            f"{', '.join(missing)} not installed "
            "(Debian: apt-get install docker.io docker-compose debootstrap)"
        )
    if os.geteuid() != 0:
        return "a private dockerd and debootstrap need root"
    return None


def _skip_unless_possible(reason: str | None) -> None:
    """Skip for ``reason``; under CI=true, fail instead: CI must run these tests."""
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the Docker tests cannot run: {reason}")
    pytest.skip(reason)


def _run(command: list[str], *, env: dict[str, str] | None = None, timeout: float = 300, **kw):
    """Run ``command``; on failure, fail the test with its output."""
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout, check=False, **kw
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


def _scratch_parent() -> str:
    """Where the engine keeps its files: in memory when there is room.

    The vfs storage driver (the only one that works without kernel support
    here) copies the whole file system for every layer and container; in
    memory the build takes about a minute, on a busy disk several.
    """
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > 4 * 1024**3:
        return str(shm)
    return tempfile.gettempdir()


def _mounts_under(root: Path) -> list[str]:
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        points = [line.split()[1] for line in mounts]
    return sorted(
        (p for p in points if p == str(root) or p.startswith(f"{root}/")), key=len, reverse=True
    )


def _stop_engine(engine: subprocess.Popen, root: Path) -> None:
    if engine.poll() is None:
        engine.send_signal(signal.SIGTERM)
        try:
            engine.wait(timeout=60)
        except subprocess.TimeoutExpired:
            engine.kill()
            engine.wait(timeout=30)
    # dockerd leaves its network namespace (and, on tmpfs, its data root) mounted.
    for point in _mounts_under(root):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def docker_env() -> Iterator[dict[str, str]]:
    """A private Docker engine for the session; its environment for docker commands."""
    _skip_unless_possible(_unavailable())
    # Unix socket paths are limited to about 100 characters: a short folder.
    root = Path(tempfile.mkdtemp(prefix="smd-", dir=_scratch_parent()))
    socket_path = root / "docker.sock"
    log = (root / "dockerd.log").open("w")
    engine = subprocess.Popen(
        [
            "dockerd",
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "--pidfile",
            str(root / "dockerd.pid"),
            "--host",
            f"unix://{socket_path}",
            "--storage-driver=vfs",
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "DOCKER_HOST": f"unix://{socket_path}",
    }
    try:
        for _ in range(120):
            if engine.poll() is not None:
                break
            ready = subprocess.run(["docker", "version"], env=env, capture_output=True)
            if ready.returncode == 0:
                break
            time.sleep(0.5)
        else:
            pytest.fail("dockerd did not answer within a minute")
        if engine.poll() is not None:
            pytest.fail(f"dockerd stopped: {(root / 'dockerd.log').read_text()[-3000:]}")
        yield env
    finally:
        _stop_engine(engine, root)
        log.close()


def _base_tarball(work: Path) -> Path:
    """A root file system of Debian bookworm with python3 and venv, as a tar file.

    Cached between runs (debootstrap downloads and unpacks for a minute or
    two); built again whenever the cache is missing.
    """
    key = hashlib.sha256(f"{DEBIAN_MIRROR} bookworm {BASE_PACKAGES}".encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "shelfmark-tests"
    tarball = cache / f"debian-python-bookworm-{key}.tar"
    if tarball.is_file():
        return tarball
    rootfs = work / "rootfs"
    _run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={BASE_PACKAGES}",
            "bookworm",
            str(rootfs),
            DEBIAN_MIRROR,
        ],
        timeout=900,
    )
    cache.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_suffix(".partial")
    excludes = [f"--exclude={path}" for path in BASE_EXCLUDES]
    _run(["tar", "-C", str(rootfs), *excludes, "-cf", str(partial), "."])
    partial.replace(tarball)
    shutil.rmtree(rootfs, ignore_errors=True)
    return tarball


def _checkout_copy(context: Path) -> Path:
    """The checkout's files, tracked or new but not ignored, copied to ``context``."""
    listed = _run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO).stdout
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            target = context / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return context


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory) -> Path:
    """Wheels of Shelfmark and its dependencies, built here from a copy of the checkout.

    From a copy, not the checkout: setuptools builds in a build/ folder next to
    the source and packs whatever it finds there, so a checkout's stale build/
    would hide a package missing from pyproject.toml.
    """
    work = tmp_path_factory.mktemp("wheelhouse")
    source = _checkout_copy(work / "source")
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "-w", str(work / "wheels"), str(source)],
        timeout=600,
    )
    return work / "wheels"


@pytest.fixture(scope="session")
def base_image(docker_env, tmp_path_factory) -> str:
    """Debian bookworm with python3 and venv, imported into the private engine."""
    with _base_tarball(tmp_path_factory.mktemp("debootstrap")).open("rb") as tarball:
        _run(["docker", "import", "-", BASE_IMAGE], env=docker_env, stdin=tarball)
    return BASE_IMAGE


@pytest.fixture(scope="session")
def image(docker_env, base_image, wheelhouse, tmp_path_factory) -> str:
    """shelfmark:latest built from the Dockerfile on a Debian base, with no network.

    The build context is the checkout's files plus the wheelhouse.
    """
    context = _checkout_copy(tmp_path_factory.mktemp("docker-build") / "context")
    shutil.copytree(wheelhouse, context / "wheelhouse")
    _run(
        [
            "docker",
            "build",
            "--network",
            "none",
            "--build-arg",
            f"BASE_IMAGE={base_image}",
            "-t",
            "shelfmark:latest",
            str(context),
        ],
        env=docker_env,
        timeout=900,
    )
    return "shelfmark:latest"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Stack:
    """docker-compose on the repository's compose files, against the private engine."""

    def __init__(self, docker_env: dict[str, str], port: int) -> None:
        self.port = port
        self.env = {**docker_env, "SHELFMARK_SECRET_KEY": SECRET_KEY}
        self.env["WEB_PUBLISH"] = f"127.0.0.1:{port}"

    def compose(self, *args: str, check: bool = True, timeout: float = 300):
        command = ["docker-compose", "-p", PROJECT]
        for name in COMPOSE_FILES:
            command += ["-f", str(REPO / name)]
        command += args
        if check:
            return _run(command, env=self.env, timeout=timeout)
        return subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def exec(self, service: str, *command: str, check: bool = True):
        return self.compose("exec", "-T", service, *command, check=check)

    def health(self, service: str) -> str:
        container = self.compose("ps", "-q", service).stdout.strip()
        inspected = _run(["docker", "inspect", container], env=self.env).stdout
        state = json.loads(inspected)[0]["State"]
        return state.get("Health", {}).get("Status", state["Status"])

    def get(self, path: str) -> tuple[int, str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as reply:
            return reply.status, reply.read().decode()


def _wait_for(what: str, check, attempts: int = 90, every: float = 1.0):
    for _ in range(attempts):
        value = check()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"gave up waiting for {what}")


MAILBOX_QUERY = (
    "import sqlite3; c = sqlite3.connect('/data/shelfmark.sqlite3'); "
    "print(c.execute(\"SELECT count(*) FROM Outbox WHERE Transport = 'mailbox' "
    'AND SentAt IS NOT NULL").fetchone()[0])'
)


RUNS_QUERY = (
    "import sqlite3; c = sqlite3.connect('/data/shelfmark.sqlite3'); "
    "print(c.execute(\"SELECT count(*) FROM JobRuns WHERE Status = 'succeeded'\").fetchone()[0])"
)
ADMINS_QUERY = (
    "import sqlite3; c = sqlite3.connect('/data/shelfmark.sqlite3'); "
    "print(c.execute(\"SELECT count(*) FROM Users WHERE Email = 'jo@school.example'\")"
    ".fetchone()[0])"
)


@pytest.fixture
def stack(image, docker_env) -> Iterator[Stack]:
    running = Stack(docker_env, _free_port())
    try:
        yield running
    finally:
        # Shown by pytest when the test failed: why a container stopped or is unhealthy.
        print(running.compose("logs", "--no-color", "--tail", "40", check=False).stdout)
        running.compose("down", "-v", "--remove-orphans", "--timeout", "10", check=False)


def test_the_image_and_the_compose_stack_run_a_library(stack, docker_env, tmp_path):
    # On an empty volume, `serve` creates the database and applies every
    # migration before its workers start; the scheduler starts once web is
    # healthy (its compose health check) and makes its catch-up run.
    stack.compose("up", "-d", "web", "scheduler")
    assert stack.health("web") == "healthy"
    status, body = stack.get("/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert "schema is up to date" in stack.exec("web", "shelfmark", "init-db").stdout
    _wait_for(
        "the scheduler's catch-up run",
        lambda: int(stack.exec("scheduler", "python", "-c", RUNS_QUERY).stdout) > 0,
    )

    # A library in the database on the shared volume, found from this machine.
    loaded = stack.exec("web", "shelfmark", "demo-data", "--books", "200", "--patrons", "40")
    assert "Demo accounts" in loaded.stdout
    status, page = stack.get("/search?q=gatsby")
    assert status == 200 and "The Great <mark>Gatsby</mark>" in page

    # The teaching records' overdue loans: a reminder run puts their emails in
    # the in-app mailbox (this stack has no SMTP host).
    rerun = stack.exec("scheduler", "shelfmark", "run-reminders")
    assert "Reminders for" in rerun.stdout
    assert int(stack.exec("scheduler", "python", "-c", MAILBOX_QUERY).stdout) > 0
    _wait_for("a healthy scheduler", lambda: stack.health("scheduler") == "healthy")
    check = stack.exec("scheduler", "shelfmark", "healthcheck", "--scheduler")
    assert check.stdout.startswith("healthy: scheduler heartbeat")

    # Neither process runs as root, and the database belongs to their user.
    assert stack.exec("web", "id", "-u").stdout.strip() not in ("", "0")
    owner = stack.exec("web", "stat", "-c", "%U", "/data/shelfmark.sqlite3").stdout.strip()
    assert owner == "shelfmark"

    # docs/deploying.md's backup: written on the volume, copied out with docker cp.
    backup = stack.exec("web", "shelfmark", "backup", "--force", "/data/backup.sqlite3")
    assert "passed an integrity check" in backup.stdout
    backups = tmp_path / "backups"
    backups.mkdir()
    copy = backups / "shelfmark-2026-11-29.sqlite3"
    web = stack.compose("ps", "-q", "web").stdout.strip()
    _run(["docker", "cp", f"{web}:/data/backup.sqlite3", str(copy)], env=docker_env)
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # The first admin account (after the backup, so the restore removes it again).
    # (docker exec: docker-compose 1.29's exec does not pass standard input on.)
    created = _run(
        ["docker", "exec", "-i", web, "shelfmark", "create-user", "--role", "Admin"]
        + ["--name", "Jo", "--email", "jo@school.example", "--password-stdin"],
        env=docker_env,
        input="correct horse battery\n",
    )
    assert "Created Admin account" in created.stdout
    assert int(stack.exec("web", "python", "-c", ADMINS_QUERY).stdout) == 1

    # docs/deploying.md's restore: stop, copy the backup in, drop -wal/-shm, start.
    stack.compose("stop", "web", "scheduler")
    stack.compose(
        "run",
        "--rm",
        "--no-deps",
        "-v",
        f"{backups}:/backups:ro",
        "web",
        "sh",
        "-c",
        f"cp /backups/{copy.name} /data/shelfmark.sqlite3"
        " && rm -f /data/shelfmark.sqlite3-wal /data/shelfmark.sqlite3-shm",
    )
    stack.compose("up", "-d", "web", "scheduler")
    status, page = stack.get("/search?q=gatsby")
    assert status == 200 and "The Great <mark>Gatsby</mark>" in page
    assert int(stack.exec("web", "python", "-c", ADMINS_QUERY).stdout) == 0

    stack.compose("down", "-v", "--timeout", "10")
    left = _run(["docker", "ps", "-aq"], env=docker_env).stdout.strip()
    volumes = _run(["docker", "volume", "ls", "-q"], env=docker_env).stdout.strip()
    assert left == "" and volumes == ""


def test_compose_refuses_to_start_without_a_secret_key():
    _skip_unless_possible(
        None if shutil.which("docker-compose") else "docker-compose not installed"
    )
    env = {key: value for key, value in os.environ.items() if key != "SHELFMARK_SECRET_KEY"}
    result = subprocess.run(
        ["docker-compose", "-f", str(REPO / "docker-compose.yml"), "config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "set a secret key" in result.stderr


@contextlib.contextmanager
def _package_index(wheelhouse: Path, links: Path) -> Iterator[str]:
    """A find-links page on this machine with the wheels a build from source needs.

    It stands in for PyPI, which containers cannot reach here: Shelfmark's
    dependencies (not Shelfmark itself) and setuptools, to build Shelfmark.
    """
    shutil.copytree(wheelhouse, links, ignore=shutil.ignore_patterns("shelfmark-*"))
    _run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(links)]
        + ["setuptools>=77"],
        timeout=300,
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(links))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_without_a_wheelhouse_the_build_makes_one_with_pip(
    docker_env, base_image, wheelhouse, tmp_path
):
    context = _checkout_copy(tmp_path / "context")
    with _package_index(wheelhouse, tmp_path / "links") as package_index:
        _run(
            [
                "docker",
                "build",
                "--network",
                "host",
                "--target",
                "wheels",
                "--build-arg",
                f"BASE_IMAGE={base_image}",
                "--build-arg",
                f"WHEELHOUSE_PIP_ARGS=--no-index --find-links {package_index}",
                "-t",
                "shelfmark-wheels:ci",
                str(context),
            ],
            env=docker_env,
            timeout=900,
        )
    listed = _run(
        ["docker", "run", "--rm", "--network", "none", "shelfmark-wheels:ci", "ls", "/wheelhouse"],
        env=docker_env,
    ).stdout.split()
    assert "shelfmark-0.1.0-py3-none-any.whl" in listed
    assert any(name.startswith("quart-") for name in listed)
    _run(["docker", "rmi", "shelfmark-wheels:ci"], env=docker_env)
