"""The ``shelfmark`` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import getpass
import importlib.metadata
import logging
import os
import sqlite3
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from webapp import db as database
from webapp import demo, logs
from webapp.clock import library_today
from webapp.config import Settings, SettingsError
from webapp.models.accounts import hash_password
from webapp.models.collection import check_patron_form
from webapp.progress import Progress
from webapp.resources import MIGRATIONS
from webapp.rules import ROLES

if TYPE_CHECKING:
    from hypercorn.middleware import ProxyFixMiddleware
    from quart import Quart

# Exit codes, the same for every command (documented in --help and the README).
EXIT_OK = 0
EXIT_FAILED = 1  # the command could not do its work; the message on stderr says why
EXIT_USAGE = 2  # wrong arguments or settings (argparse uses 2 too)
LEASE_HELD_EXIT = 75  # EX_TEMPFAIL: another reminder run holds the lease; try again later

EXIT_CODES_HELP = f"""exit codes:
  {EXIT_OK}   done
  {EXIT_FAILED}   the command failed; standard error says why (nothing was half-done)
  {EXIT_USAGE}   wrong arguments or SHELFMARK_* settings
  {LEASE_HELD_EXIT}  run-reminders: another run is working right now; try again later

Settings come from SHELFMARK_* environment variables (see the README)."""

log = logging.getLogger("shelfmark")


def _open_migrated(settings: Settings) -> sqlite3.Connection:
    conn = database.connect_sync(settings.database)
    database.migrate(conn, MIGRATIONS)
    return conn


def cmd_init_db(args: argparse.Namespace, settings: Settings) -> int:
    conn = database.connect_sync(settings.database)
    applied = database.migrate(conn, MIGRATIONS)
    version = database.schema_version(conn)
    conn.close()
    if applied:
        print(
            f"{settings.database}: applied migrations {', '.join(map(str, applied))}; "
            f"schema version {version}"
        )
    else:
        print(f"{settings.database}: schema is up to date (version {version})")
    return 0


def cmd_demo_data(args: argparse.Namespace, settings: Settings) -> int:
    conn = _open_migrated(settings)
    try:
        if demo.has_teaching_records(conn):
            print(f"{settings.database} already holds the demo data; nothing added.")
            return 0
        counts = demo.load(
            conn,
            books=args.books,
            patrons=args.patrons,
            seed=args.seed,
            today=library_today(settings),
        )
    finally:
        conn.close()
    print(", ".join(f"{count:,} {table.lower()}" for table, count in counts.items()))
    print(
        f"Demo accounts (password '{demo.DEMO_PASSWORD}'): alice@example.com (student), "
        "bob@example.com (librarian), carol@example.com (admin)"
    )
    return 0


def served_app(settings: Settings | None = None) -> Quart | ProxyFixMiddleware:
    """The app as ``shelfmark serve`` runs it, in the one process or in each worker.

    Behind ``SHELFMARK_TRUSTED_PROXIES`` reverse proxies it is wrapped in
    Hypercorn's proxy-headers middleware, so that the client's address (login
    throttling, the access log) and scheme come from X-Forwarded-For and
    X-Forwarded-Proto as the nearest proxies set them, never from the client.
    """
    from hypercorn.middleware import ProxyFixMiddleware

    from webapp import create_app

    settings = settings or Settings.from_env()
    logs.configure(settings)
    logs.access_logger(settings)
    app = create_app(settings)
    served: Quart | ProxyFixMiddleware = app
    if settings.trusted_proxies:
        served = ProxyFixMiddleware(app, mode="legacy", trusted_hops=settings.trusted_proxies)
    # Python's cycle collector walks every tracked object on each full
    # collection: with the imported framework that took 30 ms or more, in
    # the middle of whatever request was running (docs/benchmarks.md, Search).
    # What start-up created lives as long as the process; freezing it takes
    # it out of those walks.
    gc.freeze()
    return served


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from hypercorn.config import Config

    if settings.workers < 1:
        print("SHELFMARK_WORKERS must be 1 or more.", file=sys.stderr)
        return 2
    if settings.workers > 1 and settings.in_process_scheduler:
        print(
            "SHELFMARK_IN_PROCESS_SCHEDULER runs the nightly job inside the web process, so it "
            "needs SHELFMARK_WORKERS=1; with more workers, run `shelfmark scheduler` beside "
            "the server.",
            file=sys.stderr,
        )
        return 2
    # Open and migrate before Hypercorn starts: a database that cannot be used
    # must stop the command with its reason, not leave a server that never listens.
    # Migrating here also means workers never find a migration pending.
    try:
        _open_migrated(settings).close()
    except (sqlite3.Error, OSError) as error:
        print(f"Cannot serve: the database {settings.database}: {error}", file=sys.stderr)
        return 1
    config = Config()
    config.bind = [f"{args.host}:{args.port}"]
    config.accesslog = logs.access_logger(settings)
    if settings.trusted_proxies:
        # Hypercorn writes the access line with the address it accepted the
        # connection from (the proxy's); the client's address follows at the end.
        config.access_log_format += ' "%({x-forwarded-for}i)s"'
    config.errorlog = logs.error_logger()
    log.info(
        "Shelfmark on http://%s:%s/ (database %s, %s worker%s)",
        args.host,
        args.port,
        settings.database,
        settings.workers,
        "s" if settings.workers > 1 else "",
    )
    from webapp import metrics

    if settings.workers == 1:
        from hypercorn.asyncio import serve

        with metrics.shared_between_workers(settings.workers):
            asyncio.run(serve(served_app(settings), config))
        return 0
    from hypercorn.run import run

    # Each worker is a new interpreter (multiprocessing's spawn) that builds
    # its settings from the environment, so --database travels there too.
    os.environ["SHELFMARK_DATABASE"] = str(settings.database)
    config.workers = settings.workers
    config.application_path = "webapp.cli:served_app()"
    with metrics.shared_between_workers(settings.workers):
        return run(config)


def _create_user_problems(args: argparse.Namespace) -> tuple[dict, list[str]]:
    """The account's fields checked as the patron form checks them, and what is wrong."""
    values, errors = check_patron_form(
        {"name": args.name, "email": args.email, "role": args.role, "card_number": args.card}
    )
    if not errors.get("email") and values.get("email") is None:
        errors["email"] = "An account needs an email address to sign in with."
    options = {"name": "--name", "email": "--email", "role": "--role", "card_number": "--card"}
    return values, [f"{options[field]}: {message}" for field, message in errors.items()]


def cmd_create_user(args: argparse.Namespace, settings: Settings) -> int:
    values, problems = _create_user_problems(args)
    if problems:
        print("No account was created:", *problems, sep="\n  ", file=sys.stderr)
        return EXIT_USAGE
    password = args.password_stdin and sys.stdin.readline().rstrip("\n")
    if not args.password_stdin:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password again: "):
            print("The passwords do not match; no account was created.", file=sys.stderr)
            return 1
    if len(password) < 8:
        print("Choose a password of at least 8 characters.", file=sys.stderr)
        return 1
    conn = _open_migrated(settings)
    try:
        conn.execute(
            "INSERT INTO Users (Name, Role, Email, CardNumber, PasswordHash) VALUES (?,?,?,?,?)",
            (
                values["name"],
                values["role"],
                values["email"],
                values["card_number"],
                hash_password(password),
            ),
        )
    except sqlite3.IntegrityError as error:
        print(f"Could not create the account: {_integrity_message(error)}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(f"Created {values['role']} account for {values['name']} <{values['email']}>.")
    return 0


def _integrity_message(error: sqlite3.IntegrityError) -> str:
    text = str(error)
    if "Users.Email" in text:
        return "an account with that email already exists."
    if "Users.CardNumber" in text:
        return "that card number is already in use."
    if "CHECK" in text:
        return "a value is not valid (name 1–200 characters, email like name@example.org)."
    return text


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from webapp.backup import backup_database

    target = Path(args.file)
    if target.exists() and not args.force:
        print(f"{target} exists; pass --force to overwrite it.", file=sys.stderr)
        return 1
    pages = backup_database(settings.database, target)
    log.info("backup of %s to %s: %d pages, integrity check ok", settings.database, target, pages)
    print(
        f"Backed up {settings.database} to {target} ({pages:,} pages); "
        "it passed an integrity check."
    )
    return 0


def _run_import(args: argparse.Namespace, settings: Settings, read, apply) -> int:
    """Read ``args.file`` with ``read`` (bytes -> (column mapping or None, rows)), then write
    the rows with ``apply(conn, rows, advance)`` in one transaction, with a progress bar."""
    try:
        mapping, rows = read(Path(args.file).read_bytes())
    except (OSError, ValueError) as error:
        print(f"Cannot import {args.file}: {error}", file=sys.stderr)
        return 1
    if mapping:
        print("Columns: " + ", ".join(f"{column} -> {name}" for name, column in mapping.items()))
    conn = _open_migrated(settings)
    progress = Progress(f"importing {Path(args.file).name}", len(rows))
    try:
        summary = apply(conn, rows, progress.advance)
    except ValueError as error:
        print(f"Nothing was imported: {error}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    progress.finish()
    log.info("import of %s: %s", args.file, summary.counts())
    # The first few rows of each reason (ImportSummary groups them), in file order.
    shown = summary.problems[: args.show_problems]
    for line, problem in shown:
        print(f"  line {line}: {problem}")
    if summary.problem_count > len(shown):
        print(f"  … and {summary.problem_count - len(shown):,} more")
    print(
        f"{summary.new:,} new, {summary.updated:,} updated, {summary.duplicate:,} duplicate, "
        f"{summary.invalid:,} invalid; {summary.copies_added:,} copies added."
    )
    return 0


def cmd_import_books(args: argparse.Namespace, settings: Settings) -> int:
    from webapp.importing.books import apply_books, read_books_csv

    return _run_import(
        args,
        settings,
        read_books_csv,
        lambda conn, rows, advance: apply_books(
            conn, rows, default_copies=args.copies, progress=advance
        ),
    )


def cmd_import_patrons(args: argparse.Namespace, settings: Settings) -> int:
    from webapp.importing.patrons import apply_patrons, read_patrons_csv

    return _run_import(
        args,
        settings,
        lambda data: read_patrons_csv(data, allow_admin=True),
        lambda conn, rows, advance: apply_patrons(conn, rows, allow_admin=True, progress=advance),
    )


def cmd_import_marc(args: argparse.Namespace, settings: Settings) -> int:
    from webapp.importing.books import apply_books
    from webapp.importing.marc import read_marc

    return _run_import(
        args,
        settings,
        lambda data: (None, read_marc(data)),
        lambda conn, rows, advance: apply_books(
            conn, rows, default_copies=args.copies, progress=advance
        ),
    )


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """Write the CSV to FILE (through a ``.partial`` file, so a failed export leaves no
    half-written FILE) or, when FILE is ``-``, to standard output for a pipe."""
    from webapp.exporting import EXPORTS, count_rows, iter_csv

    to_stdout = args.file == "-"
    target = Path(args.file)
    if not to_stdout and target.exists() and not args.force:
        print(f"{target} exists; pass --force to overwrite it.", file=sys.stderr)
        return EXIT_FAILED
    conn = _open_migrated(settings)
    partial = target.with_name(target.name + ".partial")
    try:
        progress = Progress(f"exporting {args.kind}", count_rows(conn, args.kind))
        written = 0
        with (
            contextlib.nullcontext(sys.stdout)
            if to_stdout
            else partial.open("w", encoding="utf-8", newline="")
        ) as out:
            for rows, text in iter_csv(conn, EXPORTS[args.kind]):
                out.write(text)
                written += rows
                progress.advance(rows)
            out.flush()
    finally:
        conn.close()
    if not to_stdout:
        partial.replace(target)
    progress.finish()
    where = "standard output" if to_stdout else target
    # The data may be on standard output: the summary goes to standard error.
    print(
        f"Wrote {written:,} {args.kind} to {where}.", file=sys.stderr if to_stdout else sys.stdout
    )
    return EXIT_OK


def cmd_run_reminders(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import date

    from webapp.jobs import reminders
    from webapp.leases import LeaseHeld
    from webapp.models.reminders import preview as preview_run

    try:
        today = date.fromisoformat(args.date) if args.date else library_today(settings)
    except ValueError:
        print(f"--date must be a date like 2026-11-29, not {args.date!r}", file=sys.stderr)
        return 2
    _open_migrated(settings).close()

    async def run() -> int:
        async with database.Database(settings.database, readers=2) as db:
            if args.dry_run:
                preview = await preview_run(db, settings, today, args.show)
                plan = preview.plan
                print(
                    f"Dry run for {today}: {plan.flagged:,} overdue loans; would queue "
                    f"{len(plan.emails):,} emails ({plan.notice_count:,} notices, "
                    f"{plan.by_hand:,} to notify by hand); {preview.pending:,} already pending."
                )
                for message in preview.emails:
                    print(f"  {message.recipient}: {message.subject}")
                return 0
            try:
                report = await reminders.run_reminders(db, settings, today=today)
            except LeaseHeld as busy:
                print(f"Nothing done: {busy}.", file=sys.stderr)
                return LEASE_HELD_EXIT
            counts = report.counts
            print(
                f"Reminders for {today}: {counts.flagged:,} overdue, {counts.queued:,} queued, "
                f"{counts.sent:,} sent, {counts.pending:,} pending, {counts.failed:,} failed, "
                f"{report.cancelled:,} cancelled."
            )
            if report.error:
                print(report.error, file=sys.stderr)
                return 1
            return 0

    return asyncio.run(run())


def cmd_anonymise(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import date

    from webapp.jobs import privacy

    try:
        today = date.fromisoformat(args.date) if args.date else library_today(settings)
    except ValueError:
        print(f"--date must be a date like 2026-11-29, not {args.date!r}", file=sys.stderr)
        return 2
    _open_migrated(settings).close()

    async def run() -> int:
        async with database.Database(settings.database, readers=2) as db:
            report = await privacy.run_anonymisation(db, today)
        if report.retention_days is None:
            print("No retention period is set: every loan keeps its borrower.")
            return 0
        done = report.done
        print(
            f"Anonymised {done.loans:,} loans and {done.holds:,} holds ended before "
            f"{report.before} ({done.events:,} events redacted, {done.notices:,} notices and "
            f"{done.messages:,} messages deleted)."
        )
        return 0

    return asyncio.run(run())


def cmd_scheduler(args: argparse.Namespace, settings: Settings) -> int:
    import signal

    from webapp.jobs import scheduler

    _open_migrated(settings).close()

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        async with database.Database(settings.database, readers=2) as db:
            running = await scheduler.start(db, settings)
            log.info(
                "Scheduler: nightly reminders at %s %s (database %s)",
                f"{settings.reminder_time:%H:%M}",
                settings.timezone,
                settings.database,
            )
            await stop.wait()
            running.shutdown(wait=False)
        return 0

    return asyncio.run(run())


def _version() -> str:
    """The installed distribution's version (from the wheel's metadata, not the checkout)."""
    try:
        return importlib.metadata.version("shelfmark")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def cmd_healthcheck(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when the database can be read (and, with --scheduler, the scheduler beats)."""
    from datetime import UTC, datetime, timedelta

    from webapp.models import scheduler_heartbeat

    if not settings.database.is_file():
        print(f"unhealthy: no database at {settings.database}", file=sys.stderr)
        return 1
    try:
        conn = database.connect_sync(settings.database)
        try:
            version = database.schema_version(conn)
            beat = scheduler_heartbeat.last_beat(conn) if args.scheduler else None
        finally:
            conn.close()
    except sqlite3.Error as error:
        print(f"unhealthy: cannot read {settings.database}: {error}", file=sys.stderr)
        return 1
    if args.scheduler:
        max_age = (
            scheduler_heartbeat.MAX_AGE if args.max_age is None else timedelta(seconds=args.max_age)
        )
        problem = scheduler_heartbeat.heartbeat_problem(beat, datetime.now(UTC), max_age)
        if problem or beat is None:
            print(f"unhealthy: {problem or 'the scheduler has never beaten'}", file=sys.stderr)
            return 1
        print(f"healthy: scheduler heartbeat from {beat.holder} at {beat.beat_at:%H:%M:%S} UTC")
        return 0
    print(f"healthy: {settings.database} (schema version {version})")
    return 0


def _write_pdf(target: Path, data: bytes) -> None:
    """Through a ``.partial`` file, so a failed write leaves no half-written PDF."""
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(data)
    partial.replace(target)


def cmd_labels(args: argparse.Namespace, settings: Settings) -> int:
    """Label sheets for the print queue (which they leave) or for the barcodes given."""
    from webapp import labels
    from webapp.models import cataloguing

    if args.sheet not in labels.PRESETS:
        print(
            f"No sheet {args.sheet!r}; the sheets are {', '.join(labels.PRESETS)}.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    sheet = labels.PRESETS[args.sheet]
    if not 1 <= args.start <= sheet.per_page:
        print(f"--start is 1–{sheet.per_page} on {sheet.name}.", file=sys.stderr)
        return EXIT_USAGE
    conn = _open_migrated(settings)
    try:
        if args.queue:
            items = cataloguing.label_queue(conn)
        else:
            codes = [code for code in args.barcodes.replace(",", " ").split() if code]
            items, missing = cataloguing.copies_by_barcodes(conn, codes)
            if missing:
                print(f"No copy has the barcode {', '.join(missing)}.", file=sys.stderr)
                return EXIT_FAILED
        if not items:
            print("Nothing to print: the label queue is empty.", file=sys.stderr)
            return EXIT_FAILED
        made = labels.labels_for(items, args.kind)
        _write_pdf(Path(args.output), labels.render(made, sheet, settings.library_name, args.start))
        with conn:
            cataloguing.labels_printed(conn, [item.copy_id for item in items])
    finally:
        conn.close()
    pages = -(-(len(made) + args.start - 1) // sheet.per_page)
    print(
        f"{args.output}: {len(made)} labels for {len(items)} copies on {pages} {sheet.name} sheets"
    )
    return EXIT_OK


def cmd_cards(args: argparse.Namespace, settings: Settings) -> int:
    """Library cards for a class (``--group``), or for every active patron with a card."""
    from webapp import library_cards
    from webapp.models import cataloguing

    conn = _open_migrated(settings)
    try:
        holders = cataloguing.card_holders(conn, args.group)
    finally:
        conn.close()
    printed = [holder for holder in holders if library_cards.printable(holder.card_number)]
    if not printed:
        print("No active patron with a printable card number is in that class.", file=sys.stderr)
        return EXIT_FAILED
    _write_pdf(Path(args.output), library_cards.render(printed, settings.library_name))
    skipped = len(holders) - len(printed)
    note = f"; {skipped} left out (card numbers Code 128 cannot carry)" if skipped else ""
    print(f"{args.output}: {len(printed)} library cards{note}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shelfmark",
        description="Shelfmark library system",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"shelfmark {_version()}")
    parser.add_argument("--database", help="SQLite file (default: $SHELFMARK_DATABASE)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init_db = commands.add_parser("init-db", help="create the database or apply pending migrations")
    init_db.set_defaults(handler=cmd_init_db)

    demo_data = commands.add_parser(
        "demo-data", help="load the teaching records and a demo library"
    )
    demo_data.add_argument(
        "--books", type=int, default=2000, help="generated titles (default 2000)"
    )
    demo_data.add_argument(
        "--patrons", type=int, default=300, help="generated patrons (default 300)"
    )
    demo_data.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    demo_data.set_defaults(handler=cmd_demo_data)

    serve = commands.add_parser("serve", help="serve the web app with Hypercorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(handler=cmd_serve)

    create_user = commands.add_parser(
        "create-user", help="create an account (prompts for a password)"
    )
    create_user.add_argument("--name", required=True)
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--role", required=True, choices=ROLES)
    create_user.add_argument("--card", help="library card number")
    create_user.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of prompting",
    )
    create_user.set_defaults(handler=cmd_create_user)

    backup = commands.add_parser("backup", help="copy the live database consistently to FILE")
    backup.add_argument("file")
    backup.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    backup.set_defaults(handler=cmd_backup)

    run_reminders = commands.add_parser(
        "run-reminders", help="flag overdue loans and send reminders once, now"
    )
    run_reminders.add_argument("--date", help="run as if today were YYYY-MM-DD (library timezone)")
    run_reminders.add_argument(
        "--dry-run", action="store_true", help="show what would be queued; change and send nothing"
    )
    run_reminders.add_argument(
        "--show", type=int, default=20, help="with --dry-run, how many emails to list (default 20)"
    )
    run_reminders.set_defaults(handler=cmd_run_reminders)

    anonymise = commands.add_parser(
        "anonymise",
        help="remove the borrower from loans returned before the retention period, now",
    )
    anonymise.add_argument("--date", help="run as if today were YYYY-MM-DD (library timezone)")
    anonymise.set_defaults(handler=cmd_anonymise)

    scheduler = commands.add_parser(
        "scheduler", help="run the nightly job scheduler (long-running)"
    )
    scheduler.set_defaults(handler=cmd_scheduler)

    healthcheck = commands.add_parser(
        "healthcheck",
        help="exit 0 if the database can be read (with --scheduler: the scheduler is beating)",
    )
    healthcheck.add_argument(
        "--scheduler",
        action="store_true",
        help="also require a recent heartbeat from `shelfmark scheduler`",
    )
    healthcheck.add_argument(
        "--max-age",
        type=int,
        metavar="SECONDS",
        help="with --scheduler, the oldest heartbeat that counts as healthy (default 180)",
    )
    healthcheck.set_defaults(handler=cmd_healthcheck)

    importer = commands.add_parser("import", help="import books, patrons or MARC records")
    kinds = importer.add_subparsers(dest="kind", required=True, metavar="KIND")
    import_books = kinds.add_parser("books", help="books, with copies, from a CSV file")
    import_books.add_argument("file")
    import_books.add_argument(
        "--copies",
        type=int,
        default=1,
        help="copies for a new book when the file does not say (default 1)",
    )
    import_books.add_argument(
        "--show-problems", type=int, default=20, help="how many problem rows to list (default 20)"
    )
    import_books.set_defaults(handler=cmd_import_books)
    import_patrons = kinds.add_parser("patrons", help="patrons from a CSV file")
    import_patrons.add_argument("file")
    import_patrons.add_argument(
        "--show-problems", type=int, default=20, help="how many problem rows to list (default 20)"
    )
    import_patrons.set_defaults(handler=cmd_import_patrons)
    import_marc = kinds.add_parser("marc", help="books, with holdings, from MARC21 or MARCXML")
    import_marc.add_argument("file")
    import_marc.add_argument(
        "--copies",
        type=int,
        default=1,
        help="copies for a new book whose record has no 852 (default 1)",
    )
    import_marc.add_argument(
        "--show-problems",
        type=int,
        default=20,
        help="how many problem records to list (default 20)",
    )
    import_marc.set_defaults(handler=cmd_import_marc)

    export = commands.add_parser("export", help="write books, patrons or loans to a CSV file")
    export.add_argument("kind", choices=("books", "patrons", "loans"))
    export.add_argument("file", help="the CSV file to write, or - for standard output")
    export.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    export.set_defaults(handler=cmd_export)

    label_sheets = commands.add_parser(
        "labels", help="print spine and barcode labels to a PDF of label sheets"
    )
    chosen = label_sheets.add_mutually_exclusive_group(required=True)
    chosen.add_argument(
        "--queue", action="store_true", help="the copies waiting for labels (they leave the queue)"
    )
    chosen.add_argument("--barcodes", help="these copies, comma-separated: B1,B2,…")
    label_sheets.add_argument(
        "--sheet", default="a4-3x7", help="a4-3x7 (default), a4-3x8, letter-3x10 or letter-2x10"
    )
    label_sheets.add_argument(
        "--kind", choices=("both", "barcode", "spine"), default="both", help="default: both"
    )
    label_sheets.add_argument(
        "--start", type=int, default=1, help="first label position on the first sheet (1)"
    )
    label_sheets.add_argument("--output", required=True, help="the PDF file to write")
    label_sheets.set_defaults(handler=cmd_labels)

    cards = commands.add_parser("cards", help="print library cards to a PDF, ten per A4 sheet")
    cards.add_argument("--group", help="the class; without it, every active patron with a card")
    cards.add_argument("--output", required=True, help="the PDF file to write")
    cards.set_defaults(handler=cmd_cards)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.database:
            settings = replace(settings, database=Path(args.database))
    except SettingsError as error:
        parser.error(str(error))
    logs.configure(settings)
    return args.handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())
