"""Benchmark the nightly reminder run: flag and queue, then send over SMTP.

    python -m bench.reminders            # 100k loans, 5k overdue, 3k patrons (~1-2 min)
    python -m bench.reminders --full     # 1M loans, 50k overdue, 30k patrons

Measures (1) the flag-and-queue step of the real job (its set-based SQL: the
stage rule per open loan, Notices and Outbox rows written in one transaction)
against the raw SQL query alone, (2) how late the event loop runs while one
whole ``run_reminders`` goes on in it (what a web server sharing the loop
would feel), and (3) sending the same prepared messages to a local aiosmtpd
over one reused connection against one connection per message, in plain text,
with STARTTLS and with STARTTLS and a login, a new connection's steps timed one
by one, and the job's own delivery rate (rendering, the two commits, building
and sending each message). Writes the "## Reminders" section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

import aiosmtpd
import aiosmtplib
from webapp.jobs import reminders

from bench import common, smtp_sink
from webapp import outbox
from webapp.clock import utc_now, utc_stamp
from webapp.config import Settings
from webapp.db import Database, connect_sync, migrate
from webapp.mail import OutgoingMessage, SmtpTransport, email_bytes, envelope_sender, sender_domain
from webapp.models import reminders as notices
from webapp.progress import Progress
from webapp.reminder_stages import DEFAULT_STAGES, earliest_due_date_with_a_stage
from webapp.resources import MIGRATIONS

SECTION = "Reminders"
TODAY = date(2026, 11, 29)
BATCH = 20_000
BOOKS = 20_000
ALTERNATE_EVERY = 100
LAG_SAMPLE_SECONDS = 0.010
LAG_TARGET_MS = 50.0
IDLE_BASELINE_SECONDS = 3.0
MAIL_TARGET_RATIO = 5.0
EXCHANGES = 500
STEP_CONNECTIONS = 300

T = TypeVar("T")


def generate(path: Path, loans: int, overdue: int, patrons: int, seed: int = 1) -> None:
    """Loans (one in ten open), ``overdue`` of them overdue, spread over ``patrons`` patrons."""
    rng = random.Random(seed)
    conn = connect_sync(path)
    migrate(conn, MIGRATIONS)
    open_loans = max(loans // 10, overdue)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO Users (UserID, Name, Role, Email) VALUES (?, ?, 'Student', ?)",
        ((n, f"Patron {n}", f"patron{n}@example.org") for n in range(1, patrons + 1)),
    )
    conn.executemany(
        "INSERT INTO Books (BookID, Title, Author) VALUES (?, ?, 'A. Writer')",
        ((n, f"Title number {n}") for n in range(1, BOOKS + 1)),
    )
    conn.executemany(
        "INSERT INTO Copies (CopyID, BookID, Barcode) VALUES (?, ?, ?)",
        ((n, (n % BOOKS) + 1, f"B{n:07d}") for n in range(1, open_loans + 1)),
    )
    conn.execute("COMMIT")
    progress = Progress("generating loans", loans)

    def rows():
        for n in range(1, loans + 1):
            copy_id = (n % open_loans) + 1
            book_id = (copy_id % BOOKS) + 1
            if n <= open_loans:
                if n <= overdue:
                    user = (n % patrons) + 1
                    due = TODAY - timedelta(days=rng.randint(1, 60))
                else:
                    user = rng.randint(1, patrons)
                    due = TODAY + timedelta(days=rng.randint(1, 28))
                returned = None
            else:
                user = rng.randint(1, patrons)
                due = TODAY - timedelta(days=rng.randint(30, 900))
                returned = (due - timedelta(days=rng.randint(0, 10))).isoformat()
            lent = due - timedelta(days=14)
            yield (user, book_id, copy_id, lent.isoformat(), due.isoformat(), returned)

    pending = []
    for row in rows():
        pending.append(row)
        if len(pending) == BATCH:
            _insert_loans(conn, pending)
            progress.advance(len(pending))
            pending = []
    if pending:
        _insert_loans(conn, pending)
        progress.advance(len(pending))
    progress.finish()
    conn.execute("ANALYZE")
    conn.close()


def database_for(loans: int, overdue: int, patrons: int) -> tuple[Path, float | None]:
    """The benchmark database of that size, generated once (fixed seed) and reused; the
    seconds generating it took, or None when it was already there. Every measurement
    starts by emptying Notices and Outbox, so a reused file measures the same work."""
    path = common.RESULTS / f"reminders-{loans}.sqlite3"
    if path.exists():
        return path, None
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    for leftover in common.RESULTS.glob(partial.name + "*"):
        leftover.unlink()
    started = time.perf_counter()
    generate(partial, loans, overdue, patrons)
    partial.rename(path)
    return path, time.perf_counter() - started


def _insert_loans(conn, rows) -> None:
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate, ReturnedAt) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("COMMIT")


def time_raw_query(path: Path, repeat: int) -> list[float]:
    conn = connect_sync(path)
    last_due = earliest_due_date_with_a_stage(DEFAULT_STAGES, TODAY).isoformat()
    sql = (
        "SELECT l.LoanID, l.UserID, u.Name, u.Email, b.Title, c.Barcode, l.ReturnDate, "
        "(SELECT group_concat(n.Stage) FROM Notices n WHERE n.LoanID = l.LoanID "
        " AND n.DueDate = l.ReturnDate) FROM Loans l JOIN Users u ON u.UserID = l.UserID "
        "JOIN Books b ON b.BookID = l.BookID JOIN Copies c ON c.CopyID = l.CopyID "
        "WHERE l.ReturnedAt IS NULL AND l.ReturnDate <= ? "
        "ORDER BY l.UserID, l.ReturnDate, l.LoanID"
    )
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        conn.execute(sql, (last_due,)).fetchall()
        times.append(time.perf_counter() - started)
    conn.close()
    return times


async def _empty_ledger_and_outbox(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM Notices")
        await tx.execute("DELETE FROM Outbox")


async def time_plan_without_bodies(path: Path, repeat: int) -> list[float]:
    """The preview: the job's own query and stage rule, per-patron counts and subjects,
    nothing written."""
    settings = Settings(database=path, mail_from="Bench Library <library@bench.example>")
    times = []
    async with Database(path) as db:
        await _empty_ledger_and_outbox(db)
        for _ in range(repeat):
            started = time.perf_counter()
            await notices.preview(db, settings, TODAY, listed=50)
            times.append(time.perf_counter() - started)
    return times


async def time_flag_and_queue(path: Path, repeat: int) -> tuple[list[float], int, int]:
    settings = Settings(database=path, mail_from="Bench Library <library@bench.example>")
    times = []
    emails = notices_count = 0
    async with Database(path) as db:
        for _ in range(repeat):
            await _empty_ledger_and_outbox(db)
            started = time.perf_counter()
            queued = await reminders.queue(db, settings, TODAY, utc_now())
            times.append(time.perf_counter() - started)
            emails, notices_count = queued.emails, queued.notices
    return times, emails, notices_count


class _TimedConnection:
    """A sqlite3 connection that times each statement it runs, for the breakdown."""

    def __init__(self, conn) -> None:
        self._conn = conn
        self.timings: list[tuple[str, float]] = []

    def execute(self, sql: str, params=()):
        started = time.perf_counter()
        cursor = self._conn.execute(sql, params)
        self.timings.append((" ".join(sql.split()), time.perf_counter() - started))
        return cursor

    def create_function(self, *args, **kwargs) -> None:
        self._conn.create_function(*args, **kwargs)


def time_raw_flag_and_queue(path: Path, repeat: int) -> tuple[list[float], list[tuple[str, float]]]:
    """The job's flag-and-queue statements run on a plain sqlite3 connection, each
    timed: the raw SQL of the step. Returns each run's total (statements and commit)
    and, for the breakdown, the last run's statements over 1 ms."""
    conn = connect_sync(path)
    totals = []
    try:
        for _ in range(repeat):
            conn.execute("DELETE FROM Notices")
            conn.execute("DELETE FROM Outbox")
            timed = _TimedConnection(conn)
            timed.execute("BEGIN IMMEDIATE")
            notices.queue_tonight(
                timed,
                DEFAULT_STAGES,
                TODAY,
                utc_stamp(utc_now()),
                "bench",
                "bench.example",
            )
            timed.execute("COMMIT")
            totals.append(sum(seconds for _, seconds in timed.timings))
    finally:
        conn.close()
    return totals, [
        (sql[:72] + ("…" if len(sql) > 72 else ""), seconds)
        for sql, seconds in timed.timings
        if seconds >= 0.001
    ]


@dataclass(frozen=True)
class LoopLag:
    """How late the event loop woke a 10 ms timer while one whole run went on in it."""

    run_seconds: float
    lags_ms: list[float]
    idle_lags_ms: list[float]


async def time_loop_lag(path: Path) -> LoopLag:
    """One full ``run_reminders`` (in-app mailbox delivery) beside a task timing the loop.

    The sampler sleeps 10 ms at a time and records how much later than asked it
    woke: whatever holds the loop (synchronous work in a coroutine, a thread
    holding the GIL) shows up as lag, exactly as a web request served by the
    same loop would feel it.
    """
    settings = Settings(database=path, mail_from="Bench Library <library@bench.example>")
    loop = asyncio.get_running_loop()
    lags_ms: list[float] = []
    idle_lags_ms: list[float] = []
    running = True

    async def sample(into: list[float]) -> None:
        while running:
            asked = loop.time() + LAG_SAMPLE_SECONDS
            await asyncio.sleep(LAG_SAMPLE_SECONDS)
            into.append(max(loop.time() - asked, 0.0) * 1000)

    async with Database(path) as db:
        await _empty_ledger_and_outbox(db)
        # The same sampler with nothing else in the loop first: what the machine alone adds.
        sampler = asyncio.create_task(sample(idle_lags_ms))
        await asyncio.sleep(IDLE_BASELINE_SECONDS)
        running = False
        await sampler
        running = True
        sampler = asyncio.create_task(sample(lags_ms))
        started = time.perf_counter()
        await reminders.run_reminders(db, settings, today=TODAY, trigger="manual")
        run_seconds = time.perf_counter() - started
        running = False
        await sampler
    return LoopLag(run_seconds, lags_ms, idle_lags_ms)


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1, for the STARTTLS measurement."""

    cert: Path
    key: Path


def self_signed_certificate(directory: Path) -> Certificate | None:
    """Made with the openssl command; None when it is not installed."""
    if shutil.which("openssl") is None:
        return None
    made = Certificate(directory / "cert.pem", directory / "key.pem")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(made.key),
            "-out",
            str(made.cert),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return made


def start_smtp_sink(
    tls: Certificate | None = None, login: bool = False
) -> tuple[subprocess.Popen, int]:
    """aiosmtpd (bench.smtp_sink) in its own process: client and server never share a GIL.

    With ``tls`` it requires STARTTLS, and with ``login`` then AUTH too, as a
    library's relay does.
    """
    port = common.free_port()
    command = [sys.executable, "-m", "bench.smtp_sink", str(port)]
    if tls is not None:
        command += ["--tls", str(tls.cert), str(tls.key)]
    if login:
        command.append("--auth")
    server = subprocess.Popen(
        command, cwd=common.REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, port
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("the aiosmtpd sink did not start")


MAIL_FROM = "Bench Library <library@bench.example>"


async def prepared_messages(path: Path, messages: int) -> list[tuple[str, bytes]]:
    """(recipient, message bytes) of the first emails the in-process run delivered, rendered."""
    async with Database(path) as db:
        rows = await db.fetch_all(
            "SELECT Recipient, Subject, BodyText, BodyHtml, HeaderMessageID FROM Outbox "
            "WHERE Status = 'sent' ORDER BY MessageID LIMIT ?",
            (messages,),
        )
    return [(row[0], email_bytes(OutgoingMessage(*row), MAIL_FROM)) for row in rows]


@dataclass(frozen=True)
class Step:
    """One step of sending a message on a new SMTP connection, as ``aiosmtplib.send`` runs it.

    ``round_trips`` is how many times the client waits for the server in it;
    ``every_message`` says whether one reused connection still pays it for each message.
    """

    name: str
    round_trips: int
    every_message: bool


# The TCP handshake, then the greeting the server sends once it has accepted. asyncio
# finishes closing the connection before (with TLS, its shutdown) in the loop's next
# turns, which fall in this step too.
CONNECT_STEP = Step("TCP connect, the server's greeting", 2, False)
EHLO_STEP = Step("EHLO", 1, False)
# The 220 answer to STARTTLS, then TLS 1.3's one round trip (SteppedSending checks the
# version).
STARTTLS_STEP = Step("STARTTLS, the TLS 1.3 handshake", 2, False)
TLS_EHLO_STEP = Step("EHLO again, over TLS", 1, False)
# aiosmtplib prefers PLAIN of the LOGIN and PLAIN aiosmtpd offers: one exchange.
AUTH_STEP = Step("AUTH PLAIN", 1, False)
MAIL_STEP = Step("MAIL FROM, with SIZE", 1, True)
RCPT_STEP = Step("RCPT TO", 1, True)
# DATA waits for 354 before the message is sent, and the message for 250.
DATA_STEP = Step("DATA, then the message", 2, True)
QUIT_STEP = Step("QUIT, close", 1, False)
NEW_CONNECTION_STEPS = (
    CONNECT_STEP,
    EHLO_STEP,
    STARTTLS_STEP,
    TLS_EHLO_STEP,
    AUTH_STEP,
    MAIL_STEP,
    RCPT_STEP,
    DATA_STEP,
    QUIT_STEP,
)


@dataclass(frozen=True)
class TransportTimes:
    """One kind of connection (plain, STARTTLS, STARTTLS and AUTH), in seconds.

    Each message sent over one reused connection and over a new one, a NOOP
    exchange on the reused one, a new connection's steps timed one by one, and
    the extensions the server's EHLO answers offered (lower case, as aiosmtplib keeps them).
    """

    reused: list[float]
    per_message: list[float]
    exchange: list[float]
    steps: dict[Step, list[float]]
    extensions: tuple[str, ...]

    @property
    def ratio(self) -> float:
        """A new connection per message against one reused connection, in total."""
        return sum(self.per_message) / sum(self.reused)

    def step_median(self, step: Step) -> float | None:
        """The step's median, None when this kind of connection has no such step."""
        return statistics.median(self.steps[step]) if step in self.steps else None

    @property
    def new_connection_seconds(self) -> float:
        """Everything a new connection does for one message: the steps' medians added up."""
        return sum(statistics.median(times) for times in self.steps.values())

    @property
    def every_message_seconds(self) -> float:
        """What one reused connection still does for each message: MAIL, RCPT, DATA."""
        return sum(
            statistics.median(times) for step, times in self.steps.items() if step.every_message
        )

    @property
    def steps_ratio(self) -> float:
        """The ratio the steps imply: all of them over those a reused connection repeats."""
        return self.new_connection_seconds / self.every_message_seconds

    @property
    def round_trips(self) -> int:
        return sum(step.round_trips for step in self.steps)

    @property
    def every_message_round_trips(self) -> int:
        return sum(step.round_trips for step in self.steps if step.every_message)

    @property
    def round_trip_ratio(self) -> float:
        """What the ratio tends to where the network's round trips outweigh all else."""
        return self.round_trips / self.every_message_round_trips

    @property
    def opening_round_trips(self) -> int:
        """The round trips before MAIL: connecting, EHLO, STARTTLS and AUTH."""
        return self.round_trips - self.every_message_round_trips - QUIT_STEP.round_trips


async def time_transport(
    prepared: list[tuple[str, bytes]], tls: Certificate | None, login: bool = False
) -> TransportTimes:
    """The same prepared messages over one reused connection and over a new one each, and
    about ``STEP_CONNECTIONS`` of them on new connections step by step, against one sink.

    A new connection is what aiosmtplib.send does: connect, greeting, EHLO
    (with STARTTLS: STARTTLS, the TLS handshake, EHLO again; with a login:
    AUTH), the message, QUIT. Both ways name the client's host as Shelfmark's
    sender does (without it aiosmtplib looks the name up on every connection).
    """
    server, port = start_smtp_sink(tls, login)
    options = {
        "hostname": "127.0.0.1",
        "port": port,
        "timeout": 30,
        "start_tls": tls is not None,
        "tls_context": ssl.create_default_context(cafile=str(tls.cert)) if tls else None,
        "local_hostname": sender_domain(MAIL_FROM),
    }
    if login:
        options |= {"username": smtp_sink.USER, "password": smtp_sink.PASSWORD}
    sender = envelope_sender(MAIL_FROM)
    stepped = SteppedSending(port, options["tls_context"], login, sender, options["local_hostname"])
    stepped_per_block = math.ceil(STEP_CONNECTIONS / math.ceil(len(prepared) / ALTERNATE_EVERY))
    reused: list[float] = []
    per_message: list[float] = []
    exchange: list[float] = []
    # The three ways alternate in blocks, so a change in machine load during the
    # run weighs on all alike and the steps add up to what aiosmtplib.send took.
    client = aiosmtplib.SMTP(**options)
    try:
        await client.connect()
        for _ in range(EXCHANGES):
            started = time.perf_counter()
            await client.noop()
            exchange.append(time.perf_counter() - started)
        for start in range(0, len(prepared), ALTERNATE_EVERY):
            block = prepared[start : start + ALTERNATE_EVERY]
            for recipient, message in block:
                started = time.perf_counter()
                await client.sendmail(sender, [recipient], message)
                reused.append(time.perf_counter() - started)
            for recipient, message in block:
                started = time.perf_counter()
                await aiosmtplib.send(message, sender=sender, recipients=[recipient], **options)
                per_message.append(time.perf_counter() - started)
            for recipient, message in block[:stepped_per_block]:
                await stepped.send(recipient, message)
        await client.quit()
    finally:
        server.kill()
        server.wait()
    return TransportTimes(reused, per_message, exchange, stepped.times, tuple(stepped.extensions))


class SteppedSending:
    """Sends each message on a new connection as ``aiosmtplib.send`` does, one step at a
    time, and times every step.

    ``send`` builds an ``aiosmtplib.SMTP`` and enters it: ``connect()`` opens
    the TCP connection and reads the greeting (the local host name is given, so
    it is not looked up), then with
    ``start_tls`` sends EHLO, STARTTLS and does the handshake, and with a login
    sends EHLO again and AUTH. ``sendmail`` sends EHLO when none was sent yet,
    then MAIL FROM with the SIZE the server advertised, RCPT TO, DATA and the
    message; leaving the ``async with`` sends QUIT and closes. Here the client
    is built with ``start_tls=False`` and no login, so that ``connect()`` stops
    after the greeting and each later step is a call of its own. Not timed:
    ``sendmail`` first checks both addresses and measures the message for SIZE,
    some tens of microseconds in the client.
    """

    def __init__(
        self,
        port: int,
        tls_context: ssl.SSLContext | None,
        login: bool,
        sender: str,
        local_hostname: str,
    ) -> None:
        self._port = port
        self._local_hostname = local_hostname
        self._tls_context = tls_context
        self._login = login
        self._sender = sender
        self.times: dict[Step, list[float]] = {}
        # The extensions the server's EHLO answers offered, in order, lower case.
        self.extensions: dict[str, None] = {}

    async def send(self, recipient: str, message: bytes) -> None:
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1",
            port=self._port,
            timeout=30,
            start_tls=False,
            tls_context=self._tls_context,
            local_hostname=self._local_hostname,
        )
        await self._timed(CONNECT_STEP, client.connect())
        await self._timed(EHLO_STEP, client.ehlo())
        self.extensions |= dict.fromkeys(client.esmtp_extensions)
        if self._tls_context is not None:
            await self._timed(STARTTLS_STEP, client.starttls())
            if client.get_transport_info("ssl_object").version() != "TLSv1.3":
                raise RuntimeError("not TLS 1.3: STARTTLS_STEP's round trips are wrong")
            await self._timed(TLS_EHLO_STEP, client.ehlo())
            self.extensions |= dict.fromkeys(client.esmtp_extensions)
        if self._login:
            if client.supported_auth_methods[0] != "plain":
                raise RuntimeError("aiosmtplib would not use PLAIN: AUTH_STEP is wrong")
            await self._timed(AUTH_STEP, client.login(smtp_sink.USER, smtp_sink.PASSWORD))
        # The prepared messages already end their lines in CRLF, so their length is
        # the SIZE sendmail declares.
        await self._timed(MAIL_STEP, client.mail(self._sender, options=[f"size={len(message)}"]))
        await self._timed(RCPT_STEP, client.rcpt(recipient))
        await self._timed(DATA_STEP, client.data(message))
        await self._timed(QUIT_STEP, client.quit())

    async def _timed(self, step: Step, awaitable: Awaitable[T]) -> T:
        started = time.perf_counter()
        result = await awaitable
        self.times.setdefault(step, []).append(time.perf_counter() - started)
        return result


@dataclass(frozen=True)
class JobDelivery:
    messages: int
    seconds: float


async def time_job_delivery(path: Path, messages: int) -> JobDelivery:
    """The job's own SMTP delivery of ``messages`` reminders, put back as they are queued.

    Per message: render from the ledger and commit 'sending', build the bytes,
    MAIL/RCPT/DATA on the one connection, commit 'sent'.
    """
    server, port = start_smtp_sink()
    settings = Settings(
        database=path, smtp_host="127.0.0.1", smtp_port=port, smtp_timeout=30, mail_from=MAIL_FROM
    )
    try:
        async with Database(path) as db:
            async with db.transaction() as tx:
                await tx.execute(
                    "UPDATE Outbox SET Status = 'pending', Transport = NULL, SentAt = NULL, "
                    "Subject = '', BodyText = '', BodyHtml = '' WHERE MessageID IN "
                    "(SELECT MessageID FROM Outbox WHERE Kind = 'reminder' "
                    " ORDER BY MessageID LIMIT ?)",
                    (messages,),
                )

            async def keep_lease() -> None:
                return None

            started = time.perf_counter()
            delivery = await outbox.deliver(
                db,
                settings,
                SmtpTransport(settings),
                respect_backoff=False,
                keep_lease=keep_lease,
                clock=utc_now,
            )
            seconds = time.perf_counter() - started
    finally:
        server.kill()
        server.wait()
    assert delivery.sent == messages, delivery
    return JobDelivery(messages, seconds)


def steps_table(transports: dict[str, TransportTimes]) -> str:
    """Each step's median on a new connection, by kind, then the sums and ratios they imply."""
    kinds = list(transports.values())
    rows: list[list[object]] = []
    for step in NEW_CONNECTION_STEPS:
        medians = [kind.step_median(step) for kind in kinds]
        if any(median is not None for median in medians):
            rows.append(
                [
                    step.name,
                    step.round_trips,
                    *("–" if median is None else common.ms(median * 1000) for median in medians),
                ]
            )
    rows += [
        [
            "**all the steps: a new connection**",
            " / ".join(str(kind.round_trips) for kind in kinds),
            *(common.ms(kind.new_connection_seconds * 1000) for kind in kinds),
        ],
        [
            "`aiosmtplib.send`, per message (the median in the table above)",
            "",
            *(common.ms(statistics.median(kind.per_message) * 1000) for kind in kinds),
        ],
        [
            "**what a reused connection repeats per message: MAIL, RCPT, DATA**",
            " / ".join(str(kind.every_message_round_trips) for kind in kinds),
            *(common.ms(kind.every_message_seconds * 1000) for kind in kinds),
        ],
        [
            "all the steps over those repeated: the ratio the steps imply",
            "",
            *(f"{kind.steps_ratio:.2f}×" for kind in kinds),
        ],
        [
            "round trips over those repeated: what the ratio tends to when they dominate",
            "",
            *(f"{kind.round_trip_ratio:.2f}×" for kind in kinds),
        ],
    ]
    return common.table(("step", "round trips", *transports), rows)


def connection_verdict(transports: dict[str, TransportTimes]) -> str:
    """The sentences under the sending tables: the target on each kind of connection, why,
    with the step table's figures, and what would meet it."""
    plain = transports["plain"]
    kinds = list(transports.values())
    target = MAIL_TARGET_RATIO
    lines = [
        (
            f"Without TLS a new connection per message took {plain.ratio:.2f}× the time of one "
            f"reused connection: {_verdict(plain.ratio >= target)}, target at least {target:.0f}×."
        )
    ]
    if "STARTTLS" in transports and "STARTTLS and AUTH" in transports:
        starttls = transports["STARTTLS"].ratio
        starttls_auth = transports["STARTTLS and AUTH"].ratio
        lines.append(
            f"With STARTTLS {starttls:.2f}× ({_verdict(starttls >= target)}), and "
            f"with STARTTLS and a login, as a library's relay requires (the README's "
            f"`SHELFMARK_SMTP_STARTTLS`, `SHELFMARK_SMTP_USER`), {starttls_auth:.2f}× "
            f"({_verdict(starttls_auth >= target)})."
        )
    lines.append(
        f"(The ways alternate in blocks of {ALTERNATE_EVERY} messages, on loopback.) One "
        f"exchange (a NOOP and its answer) took {statistics.median(plain.exchange) * 1000:.2f} "
        "ms on the reused connection, client and server each handling it in Python. The table "
        "above shows where the time goes. A reused connection still makes "
        f"{plain.every_message_round_trips} exchanges a message (MAIL, RCPT, DATA, the "
        f"message: {common.ms(plain.every_message_seconds * 1000)} ms without TLS). Over "
        "those, all the steps of a new connection come to "
        f"{_by_kind(transports, lambda kind: f'{kind.steps_ratio:.2f}×')}: the ratio these "
        "steps imply with this client and server"
        + (
            f", so {target:.0f}× is out of reach with them on loopback."
            if all(max(kind.steps_ratio, kind.ratio) < target for kind in kinds)
            else "."
        )
    )
    lines.append(
        "Against a remote relay each exchange also waits for the network; where those waits "
        "outweigh the Python on both sides, the ratio tends to the ratio of round trips, a new "
        f"connection's over a reused one's {plain.every_message_round_trips}: "
        f"{_by_kind(transports, lambda kind: f'{kind.round_trip_ratio:.2f}×')}"
        + (
            f", all short of {target:.0f}×."
            if all(kind.round_trip_ratio < target for kind in kinds)
            else "."
        )
    )
    offered = dict.fromkeys(extension for kind in kinds for extension in kind.extensions)
    lines.append(
        f"{target:.0f}× needs a new connection's set-up to cost at least {target - 1:.0f} times "
        "what a message costs on a reused connection. Over a network, PIPELINING (RFC 2920) on "
        "both sides would give that: a reused connection sends each message with the next "
        "one's MAIL, RCPT and DATA behind it and waits once, one round trip a message, while a "
        "new connection still waits for its greeting, EHLO, STARTTLS and AUTH before MAIL and "
        "twice after (for MAIL, RCPT and DATA together, then for the message with QUIT behind "
        f"it): {_by_kind(transports, lambda kind: f'{kind.opening_round_trips + 2}×')}. "
        f"aiosmtpd {aiosmtpd.__version__} "
        f"{'offers' if 'pipelining' in offered else 'does not offer'} PIPELINING (its EHLO "
        f"answers here: {', '.join(extension.upper() for extension in offered)}), and "
        f"aiosmtplib {aiosmtplib.__version__} cannot use it: it sends each command only after "
        "the answer to the one before."
    )
    return " ".join(lines)


def _by_kind(transports: dict[str, TransportTimes], figure: Callable[[TransportTimes], str]) -> str:
    """'2 without TLS, 3 with STARTTLS and 4 with STARTTLS and a login', for the kinds measured."""
    words = {
        "plain": "without TLS",
        "STARTTLS": "with STARTTLS",
        "STARTTLS and AUTH": "with STARTTLS and a login",
    }
    parts = [f"{figure(kind)} {words[name]}" for name, kind in transports.items()]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def queue_verdict(ratio: float, selection_ratio: float, preview_ratio: float) -> str:
    """The sentences under the flag-and-queue table."""
    line = (
        f"Flag and queue costs {ratio:.1f}× its own SQL run raw ({_verdict(ratio <= 2)}, target "
        "at most 2×): the job is that SQL, run in one transaction on the writer's thread, "
        "with the stage rule a Python function SQLite calls per loan. Against the selection "
        f"query alone (the first row) it costs {selection_ratio:.1f}× "
        f"({_verdict(selection_ratio <= 2)}); the preview, the same selection without "
        f"writing, {preview_ratio:.1f}×. The job queues each email without its subject and "
        "bodies and renders them from the ledger just before sending (in the transaction "
        "that marks it `sending`), so what it adds to the selection is writing the rows: the "
        "Outbox and Notices inserts with their indexes, CHECKs and foreign-key probes, and "
        "the commit."
    )
    if selection_ratio <= 2:
        return line
    return line + (
        " In the breakdown below the first statement is the selection itself (the raw "
        "query's work, less the titles and barcodes it no longer needs) and the two inserts "
        "are most of the rest. Within 2× of the selection alone would need fewer rows or "
        "fewer checks per row -- one ledger row per email instead of per loan, or Notices "
        "without its foreign keys and CHECKs -- which would give up the per-loan ledger that "
        "exactly-once is keyed on."
    )


def lag_verdict(during: common.Summary, idle: common.Summary) -> str:
    """The sentence under the lag table, read against what the machine alone adds."""
    line = (
        f"p99 {common.ms(during.p99)} ms: {_verdict(during.p99 < LAG_TARGET_MS)}, target "
        f"under {LAG_TARGET_MS:.0f} ms."
    )
    if during.p99 < LAG_TARGET_MS:
        return line
    if idle.p99 >= LAG_TARGET_MS:
        line += (
            f" The same sampler with nothing else in the loop already had p99 "
            f"{common.ms(idle.p99)} ms: on this machine at this load, threads wait that long for "
            "a core, whatever the loop runs."
        )
    return line + (
        " The flagging and queueing is SQL in the writer's thread, which SQLite runs without "
        "the GIL; the Python left is rendering each email at delivery, in batches of "
        f"{outbox.MAILBOX_BATCH} per transaction, and a worker thread holding the GIL gives "
        "it back to the loop at the interpreter's 5 ms switch interval at best. The web server "
        "is spared entirely by running the job as `shelfmark scheduler`, its own process, which "
        "is how the README deploys it (`SHELFMARK_IN_PROCESS_SCHEDULER` is for `make run`)."
    )


def _generation(seconds: float | None) -> str:
    if seconds is None:
        return "data generated by an earlier run, same seed"
    return f"data generated in {seconds:.1f} s"


def _verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="1M loans, 50k overdue, 30k patrons")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--messages", type=int, default=None, help="messages for the SMTP test")
    parser.add_argument(
        "--no-write", action="store_true", help="print, do not update docs/benchmarks.md"
    )
    args = parser.parse_args(argv)
    loans, overdue, patrons = (1_000_000, 50_000, 30_000) if args.full else (100_000, 5_000, 3_000)
    messages = args.messages or (5_000 if args.full else 1_000)

    load_at_start = os.getloadavg()[0]
    path, generated_in = database_for(loans, overdue, patrons)
    raw = time_raw_query(path, args.repeat)
    without_bodies = asyncio.run(time_plan_without_bodies(path, args.repeat))
    queue, emails, notice_count = asyncio.run(time_flag_and_queue(path, args.repeat))
    raw_queue, breakdown = time_raw_flag_and_queue(path, args.repeat)
    lag = asyncio.run(time_loop_lag(path))
    prepared = asyncio.run(prepared_messages(path, messages))
    with tempfile.TemporaryDirectory() as directory:
        certificate = self_signed_certificate(Path(directory))
        transports = {"plain": asyncio.run(time_transport(prepared, None))}
        if certificate is not None:
            transports["STARTTLS"] = asyncio.run(time_transport(prepared, certificate))
            transports["STARTTLS and AUTH"] = asyncio.run(
                time_transport(prepared, certificate, login=True)
            )
    job_delivery = asyncio.run(time_job_delivery(path, len(prepared)))

    raw_median, queue_median = statistics.median(raw), statistics.median(queue)
    lag_summary = common.Summary.of(lag.lags_ms)
    idle_summary = common.Summary.of(lag.idle_lags_ms)
    lines = [
        f"Measured {common.utc_now()} on {common.machine()}, with `python -m bench.reminders"
        f"{' --full' if args.full else ''}`: {loans:,} loans ({overdue:,} overdue) across "
        f"{patrons:,} patrons ({_generation(generated_in)}). Medians of {args.repeat} "
        f"runs. Load average at start: {load_at_start:.1f}"
        + (
            " (above the core count: absolute times are pessimistic, the ratios are what to read)"
            if load_at_start > (os.cpu_count() or 1)
            else ""
        )
        + ". The SMTP server is aiosmtpd's Sink handler in a separate process.",
        "",
        "| step | median | p95 |",
        "|---|---|---|",
        f"| raw SQL: the job's query for open loans that reached a stage, with their ledger "
        f"| {raw_median * 1000:.0f} ms | {common.percentile(raw, 0.95) * 1000:.0f} ms |",
        f"| flag without writing: the job's query and stage rule, per-patron counts and "
        f"subjects, nothing written (the preview) | {statistics.median(without_bodies) * 1000:.0f} ms "
        f"| {common.percentile(without_bodies, 0.95) * 1000:.0f} ms |",
        f"| raw SQL: the flag-and-queue statements alone, on a plain sqlite3 connection "
        f"| {statistics.median(raw_queue) * 1000:.0f} ms "
        f"| {common.percentile(raw_queue, 0.95) * 1000:.0f} ms |",
        f"| flag and queue: the stage rule per open loan, {emails:,} emails and {notice_count:,} "
        f"notices written by INSERT … SELECT in one transaction | {queue_median * 1000:.0f} ms | "
        f"{common.percentile(queue, 0.95) * 1000:.0f} ms |",
        "",
        queue_verdict(
            queue_median / statistics.median(raw_queue),
            queue_median / raw_median,
            statistics.median(without_bodies) / raw_median,
        ),
        "",
        "Where one flag-and-queue run's time goes, statement by statement (those over 1 ms):",
        "",
        common.table(
            ("statement", "ms"),
            [(f"`{sql}`", f"{seconds * 1000:.0f}") for sql, seconds in breakdown],
        ),
        "",
        f"Event-loop lag while one whole run (`run_reminders`: flag, queue, render and deliver "
        f"every email to the in-app mailbox) took {lag.run_seconds:.1f} s in the loop a web server "
        f"would share: a task asked to sleep {LAG_SAMPLE_SECONDS * 1000:.0f} ms at a time; "
        "milliseconds late.",
        "",
        common.table(
            ("loop", "samples", "p50", "p99", "max"),
            [
                (
                    label,
                    f"{summary.count:,}",
                    common.ms(summary.median),
                    common.ms(summary.p99),
                    common.ms(summary.maximum),
                )
                for label, summary in (
                    (
                        f"idle, {IDLE_BASELINE_SECONDS:.0f} s before the run (the machine alone)",
                        idle_summary,
                    ),
                    ("while the run goes on", lag_summary),
                )
            ],
        ),
        "",
        lag_verdict(lag_summary, idle_summary),
        "",
        f"Sending {len(prepared):,} of those emails, rendered and built beforehand (the same "
        "bytes both ways), to a local aiosmtpd:",
        "",
        "| connection | total | per message p50 | p95 | p99 |",
        "|---|---|---|---|---|",
        *(
            f"| {label} ({kind}) | {sum(times):.2f} s | {statistics.median(times) * 1000:.2f} ms "
            f"| {common.percentile(times, 0.95) * 1000:.2f} ms "
            f"| {common.percentile(times, 0.99) * 1000:.2f} ms |"
            for kind, results in transports.items()
            for label, times in (
                ("one reused connection", results.reused),
                ("a new connection per message", results.per_message),
            )
        ),
        "",
        (
            f"Where a message sent on a new connection spends its time: the calls "
            f"`aiosmtplib.send` makes, run one at a time on "
            f"{len(transports['plain'].steps[CONNECT_STEP]):,} new connections of each kind, in "
            "the same blocks as the sending above; median milliseconds per step, `–` where that "
            "kind has no such step, and the round trips each step waits for:"
        ),
        "",
        steps_table(transports),
        "",
        connection_verdict(transports),
        "",
        f"The job itself delivered {job_delivery.messages:,} reminders over its one plain "
        f"connection in {job_delivery.seconds:.2f} s, "
        f"{job_delivery.seconds / job_delivery.messages * 1000:.2f} ms a message: rendering "
        "from the ledger and committing `sending`, building the message, the SMTP exchange, "
        "committing `sent`.",
    ]
    section = "\n".join(lines) + "\n"
    print(section)
    if not args.no_write:
        common.write_section(SECTION, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
