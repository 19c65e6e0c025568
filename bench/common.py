"""What every benchmark shares: serving the app, percentiles, the machine, the report file.

Each bench script owns one ``## Section`` of docs/benchmarks.md and rewrites
only that section (``write_section``), so scripts run in any order and never
overwrite each other's figures.
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

import httpx

from bench.generate import LIBRARIAN_EMAIL, PASSWORD, PRESETS, generate
from webapp.db import configure, migrate
from webapp.resources import MIGRATIONS

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
REPORT = REPO / "docs" / "benchmarks.md"
REPORT_TITLE = "# Benchmarks"
REPORT_INTRO = (
    "Every section below is written by a script in `bench/` (`make bench` for the quick "
    "sizes, `python -m bench.run --full` for a million titles); do not edit it by hand. "
    "Each figure was measured in one run beside its reference, on the machine named in "
    "its section."
)


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The ``fraction`` (0..1) percentile by linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Summary:
    """Milliseconds: the figures every table reports."""

    count: int
    median: float
    p95: float
    p99: float
    maximum: float

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> Summary:
        return cls(
            count=len(samples_ms),
            median=statistics.median(samples_ms),
            p95=percentile(samples_ms, 0.95),
            p99=percentile(samples_ms, 0.99),
            maximum=max(samples_ms),
        )


def machine() -> str:
    """One line naming the machine: cores, CPU, Python, SQLite."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}"
    )


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def write_section(heading: str, body: str, report: Path = REPORT) -> None:
    """Replace the ``## heading`` section of the report with ``body`` (or append it)."""
    text = report.read_text(encoding="utf-8") if report.exists() else ""
    if not text.strip():
        text = f"{REPORT_TITLE}\n\n{REPORT_INTRO}\n"
    section = f"## {heading}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(text, encoding="utf-8")


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def preset_database(name: str, size: str) -> Path:
    """``RESULTS/<name>-<size>.sqlite3``, a library of the generator's preset ``size``,
    generated once and reused (the generator is deterministic), with any pending
    migration applied now so that no timed request pays for it."""
    path = RESULTS / f"{name}-{size}.sqlite3"
    if not path.exists():
        titles, patrons, loans, overdue = PRESETS[size]
        print(f"generating the {size} preset into {path}", file=sys.stderr)
        RESULTS.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        for leftover in RESULTS.glob(partial.name + "*"):
            leftover.unlink()
        generate(partial, titles=titles, patrons=patrons, loans=loans, overdue=overdue)
        partial.rename(path)
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(configure(conn), MIGRATIONS)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def signed_in_librarian(base_url: str, timeout: float = 60) -> tuple[httpx.Client, str]:
    """A client signed in as the generated library's librarian through the login form,
    and its session's CSRF token (read from the desk)."""
    client = httpx.Client(base_url=base_url, timeout=timeout)
    token = CSRF_META.search(client.get("/login").text).group(1)
    response = client.post(
        "/login", data={"email": LIBRARIAN_EMAIL, "password": PASSWORD, "csrf_token": token}
    )
    if response.status_code != 302:
        raise RuntimeError(f"could not sign in: {response.status_code}")
    return client, CSRF_META.search(client.get("/desk").text).group(1)


def load_note(load: float, when: str = "at the start") -> str:
    """What the 1-minute load average ``load``, read ``when``, says about the figures."""
    cores = os.cpu_count() or 1
    if load < cores:
        return f"Load average {when}: {load:.1f} on {cores} cores, a quiet machine."
    return (
        f"Load average {when}: {load:.1f} on {cores} cores: other work was running, so "
        "latencies are high; CPU times are not inflated by it."
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """A running ``shelfmark serve`` process, and its workers when it has more than one."""

    process: subprocess.Popen
    base_url: str
    port: int
    started_in: float  # seconds from launch to the first 200 from /healthz

    def processes(self) -> list[int]:
        """The server's process ids: ``shelfmark serve`` and its descendants (with
        ``SHELFMARK_WORKERS`` above 1, Hypercorn's workers do the serving)."""
        parents = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parents[int(entry.name)] = int(_stat_fields(int(entry.name))[1])
                except (OSError, IndexError):
                    continue
        tree = [self.process.pid]
        for pid in tree:
            tree.extend(child for child, parent in parents.items() if parent == pid)
        return tree

    def memory_mb(self, field: str) -> float:
        """A memory figure from /proc of the largest of the server's processes (VmHWM: peak
        resident; RssAnon: private memory now; RssFile: mapped file pages now, e.g.
        SQLite's mmap), in MB."""
        return max(self._per_process("status", rf"^{field}:\s+(\d+) kB"), default=0) / 1024

    def peak_rss_mb(self) -> float:
        return self.memory_mb("VmHWM")

    def disk_read_bytes(self) -> int:
        """Bytes the server's processes have read from storage so far (/proc/PID/io
        ``read_bytes``): what the operating system's page cache did not already hold."""
        return sum(self._per_process("io", r"^read_bytes: (\d+)$"))

    def _per_process(self, name: str, pattern: str) -> list[int]:
        """The number ``pattern`` finds in /proc/PID/``name``, for each of the server's
        processes (one that has exited meanwhile is left out)."""
        values = []
        for pid in self.processes():
            try:
                found = re.search(pattern, Path(f"/proc/{pid}/{name}").read_text(), re.MULTILINE)
            except OSError:
                continue
            if found:
                values.append(int(found.group(1)))
        return values

    def cpu_seconds(self) -> float:
        """CPU time (user + system, all threads, all its processes) the server has used so
        far: a cost per request that, unlike latency, does not grow when other work shares
        the machine."""
        total = 0
        for pid in self.processes():
            try:
                fields = _stat_fields(pid)
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: state, parent, …, utime (11), stime (12)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


@contextmanager
def serve(
    database: Path,
    timeout: float = 30.0,
    log_path: Path | None = None,
    settings: dict[str, str] | None = None,
):
    """Run ``shelfmark serve`` on a free loopback port exactly as the README does.

    Access logging stays on as in production; it goes to ``log_path`` (or
    nowhere) so the benchmark's terminal stays readable. With
    ``SHELFMARK_WORKERS`` above 1 in ``settings`` it returns once every worker
    listens (a worker still starting would leave its share of the load's
    connections to the others), which it reads in the log, so ``log_path`` is
    needed then.
    """
    workers = int((settings or {}).get("SHELFMARK_WORKERS", "1"))
    if workers > 1 and log_path is None:
        raise ValueError("serving with more than one worker needs a log_path")
    port = free_port()
    env = {**os.environ, "SHELFMARK_SECRET_KEY": "benchmark-secret-key"}
    env.update(settings or {})
    started = time.monotonic()
    # A session of its own, so that whatever happens its workers are stopped with it.
    # The child keeps its own copy of the log's descriptor: ours closes at once.
    with open(log_path or os.devnull, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "webapp.cli",
                "--database",
                str(database),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        while not _answering(base_url) or (
            workers > 1 and log_path.read_text(errors="replace").count("Running on") < workers
        ):
            if process.poll() is not None:
                raise RuntimeError(f"shelfmark serve exited with {process.returncode}")
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"shelfmark serve did not answer /healthz within {timeout}s")
            time.sleep(0.02)
        yield Server(process, base_url, port, time.monotonic() - started)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _answering(base_url: str) -> bool:
    try:
        with urlopen(f"{base_url}/healthz", timeout=1) as response:
            return response.status == 200
    except (URLError, ConnectionError, OSError):
        return False


async def _get(host: str, port: int, path: str, headers: dict[str, str]) -> float:
    """One HTTP/1.1 GET on a fresh connection; returns its latency in ms."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra}\r\n".encode()
    )
    await writer.drain()
    status_line = await reader.readline()
    await reader.read()
    writer.close()
    elapsed = (time.perf_counter() - started) * 1000
    if b" 200 " not in status_line:
        raise RuntimeError(f"GET {path} answered {status_line!r}")
    return elapsed


async def load(
    base_url: str,
    paths: Sequence[str],
    *,
    clients: int,
    requests: int,
    max_seconds: float,
    headers: dict[str, str] | None = None,
) -> tuple[list[float], float]:
    """``clients`` concurrent clients cycle through ``paths`` until ``requests`` are
    done or ``max_seconds`` pass; returns latencies (ms) and throughput (requests/s)."""
    host, port = base_url.removeprefix("http://").split(":")
    latencies: list[float] = []
    counter = iter(range(requests))
    deadline = time.monotonic() + max_seconds

    async def client() -> None:
        for number in counter:
            if time.monotonic() > deadline:
                return
            latencies.append(await _get(host, int(port), paths[number % len(paths)], headers or {}))

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return latencies, len(latencies) / elapsed


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
