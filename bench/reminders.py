"""Benchmark the nightly reminder run: flag and queue, then send over SMTP.

    python -m bench.reminders            # 100k loans, 5k overdue, 3k patrons (~1-2 min)
    python -m bench.reminders --full     # 1M loans, 50k overdue, 30k patrons

Measures (1) the flag-and-queue step of the real job (its set-based SQL: the
stage rule per open loan, Notices and Outbox rows written in one transaction)
against the raw SQL query alone, (2) how late the event loop runs while one
whole ``run_reminders`` goes on in it (what a web server sharing the loop
would feel), and (3) sending the same prepared messages to a local aiosmtpd
over one reused connection against one connection per message, in plain text
and with STARTTLS, and the job's own delivery rate (rendering, the two
commits, building and sending each message). Writes the "## Reminders"
section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
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
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import aiosmtplib

from bench import common, smtp_sink

from webapp.config import Settings
from webapp.db import Database, connect_sync, migrate
from webapp.jobs import reminders
from webapp.mail import OutgoingMessage, SmtpTransport, email_bytes, envelope_sender
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
            await reminders.preview(db, settings, TODAY, listed=50)
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
            queued = await reminders.queue(db, settings, TODAY, reminders.utc_now())
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
            notices.queue_tonight(timed, DEFAULT_STAGES, TODAY,
                                  reminders.utc_stamp(reminders.utc_now()), "bench", "bench.example")
            timed.execute("COMMIT")
            totals.append(sum(seconds for _, seconds in timed.timings))
    finally:
        conn.close()
    return totals, [(sql[:72] + ("…" if len(sql) > 72 else ""), seconds)
                    for sql, seconds in timed.timings if seconds >= 0.001]


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
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(made.key), "-out", str(made.cert)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
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
    server = subprocess.Popen(command, cwd=common.REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
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
            "WHERE Status = 'sent' ORDER BY MessageID LIMIT ?", (messages,),
        )
    return [(row[0], email_bytes(OutgoingMessage(*row), MAIL_FROM)) for row in rows]


async def time_transport(
    prepared: list[tuple[str, bytes]], tls: Certificate | None, login: bool = False
) -> dict[str, list[float]]:
    """The same prepared messages over one reused connection and over a new one each.

    A new connection is what aiosmtplib.send does: connect, greeting, EHLO
    (with STARTTLS: STARTTLS, the TLS handshake, EHLO again; with a login:
    AUTH), the message, QUIT.
    """
    server, port = start_smtp_sink(tls, login)
    options = {
        "hostname": "127.0.0.1", "port": port, "timeout": 30, "start_tls": tls is not None,
        "tls_context": ssl.create_default_context(cafile=str(tls.cert)) if tls else None,
    }
    if login:
        options |= {"username": smtp_sink.USER, "password": smtp_sink.PASSWORD}
    sender = envelope_sender(MAIL_FROM)
    results: dict[str, list[float]] = {"reused": [], "per_message": [], "exchange": []}
    # The two ways alternate in blocks, so a change in machine load during the
    # run weighs on both alike.
    client = aiosmtplib.SMTP(**options)
    try:
        await client.connect()
        for _ in range(EXCHANGES):
            started = time.perf_counter()
            await client.noop()
            results["exchange"].append(time.perf_counter() - started)
        for start in range(0, len(prepared), ALTERNATE_EVERY):
            block = prepared[start:start + ALTERNATE_EVERY]
            for recipient, message in block:
                started = time.perf_counter()
                await client.sendmail(sender, [recipient], message)
                results["reused"].append(time.perf_counter() - started)
            for recipient, message in block:
                started = time.perf_counter()
                await aiosmtplib.send(message, sender=sender, recipients=[recipient], **options)
                results["per_message"].append(time.perf_counter() - started)
        await client.quit()
    finally:
        server.kill()
        server.wait()
    return results


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
    settings = Settings(database=path, smtp_host="127.0.0.1", smtp_port=port, smtp_timeout=30,
                        mail_from=MAIL_FROM)
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
            delivery = await reminders.deliver_outbox(
                db, settings, SmtpTransport(settings), respect_backoff=False,
                keep_lease=keep_lease, clock=reminders.utc_now,
            )
            seconds = time.perf_counter() - started
    finally:
        server.kill()
        server.wait()
    assert delivery.sent == messages, delivery
    return JobDelivery(messages, seconds)


def connection_verdict(
    plain: float, starttls: float | None, starttls_auth: float | None, exchange_ms: float
) -> str:
    """The sentences under the sending table: the target, on each kind of connection."""
    lines = [
        f"Without TLS a new connection per message took {plain:.2f}× the time of one reused "
        f"connection: {_verdict(plain >= MAIL_TARGET_RATIO)}, target at least "
        f"{MAIL_TARGET_RATIO:.0f}×."
    ]
    if starttls is not None and starttls_auth is not None:
        lines.append(
            f"With STARTTLS {starttls:.2f}× ({_verdict(starttls >= MAIL_TARGET_RATIO)}), and "
            f"with STARTTLS and a login, as a library's relay requires (the README's "
            f"`SHELFMARK_SMTP_STARTTLS`, `SHELFMARK_SMTP_USER`), {starttls_auth:.2f}× "
            f"({_verdict(starttls_auth >= MAIL_TARGET_RATIO)})."
        )
    lines.append(
        f"(The two ways alternate in blocks of {ALTERNATE_EVERY} messages, on loopback.) "
        f"One exchange (a NOOP and its answer) on the reused connection took "
        f"{exchange_ms:.2f} ms, client and server each handling it in Python. A reused "
        "connection costs four exchanges per message (MAIL, RCPT, DATA, the message); a new "
        "one adds the TCP connect, the greeting, EHLO and QUIT and aiosmtpd's set-up of a "
        "session, so on loopback, where a connection itself costs almost nothing, the ratio "
        "stays near the count of exchanges, 8 against 4: 5× is out of reach there whatever "
        "the client does. "
        "STARTTLS adds the TLS handshake (key exchange, certificate check) and a second "
        "EHLO to every new connection, a login adds AUTH, and a reused connection pays "
        "none of them again; against a remote relay every one of those exchanges is also "
        "a network round trip."
    )
    return " ".join(lines)


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
    line = (f"p99 {common.ms(during.p99)} ms: {_verdict(during.p99 < LAG_TARGET_MS)}, target "
            f"under {LAG_TARGET_MS:.0f} ms.")
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
        f"{reminders.MAILBOX_BATCH} per transaction, and a worker thread holding the GIL gives "
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
    parser.add_argument("--no-write", action="store_true", help="print, do not update docs/benchmarks.md")
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
        + (" (above the core count: absolute times are pessimistic, the ratios are what to "
           "read)" if load_at_start > (os.cpu_count() or 1) else "")
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
        queue_verdict(queue_median / statistics.median(raw_queue), queue_median / raw_median,
                      statistics.median(without_bodies) / raw_median),
        "",
        "Where one flag-and-queue run's time goes, statement by statement (those over 1 ms):",
        "",
        common.table(("statement", "ms"), [(f"`{sql}`", f"{seconds * 1000:.0f}")
                                          for sql, seconds in breakdown]),
        "",
        f"Event-loop lag while one whole run (`run_reminders`: flag, queue, render and deliver "
        f"every email to the in-app mailbox) took {lag.run_seconds:.1f} s in the loop a web server "
        f"would share: a task asked to sleep {LAG_SAMPLE_SECONDS * 1000:.0f} ms at a time; "
        "milliseconds late.",
        "",
        common.table(
            ("loop", "samples", "p50", "p99", "max"),
            [(label, f"{summary.count:,}", common.ms(summary.median), common.ms(summary.p99),
              common.ms(summary.maximum))
             for label, summary in (
                 (f"idle, {IDLE_BASELINE_SECONDS:.0f} s before the run (the machine alone)",
                  idle_summary),
                 ("while the run goes on", lag_summary))],
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
            for label, times in (("one reused connection", results["reused"]),
                                 ("a new connection per message", results["per_message"]))
        ),
        "",
        connection_verdict(
            *(sum(transports[kind]["per_message"]) / sum(transports[kind]["reused"])
              if kind in transports else None
              for kind in ("plain", "STARTTLS", "STARTTLS and AUTH")),
            statistics.median(transports["plain"]["exchange"]) * 1000,
        ),
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
