"""One log line, with its counts, for every reminder run, outbox sweep, import and backup."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from webapp.jobs import reminders, scheduler

from webapp.cli import main
from webapp.clock import library_today
from webapp.db import Database

from .conftest import make_settings
from .test_import_web import BAD_ROWS_CSV

SCHEDULER_LOGGER = "webapp.jobs.scheduler"


def _lines(caplog, logger: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == logger]


async def test_a_nightly_run_logs_its_counts(demo_database, caplog):
    caplog.set_level(logging.INFO)
    settings = make_settings(demo_database)
    async with Database(demo_database) as db:
        await scheduler.nightly(db, settings)
    (line,) = _lines(caplog, SCHEDULER_LOGGER)
    match = re.fullmatch(
        r"reminder run \(nightly\) for \d{4}-\d\d-\d\d: (\d+) overdue, (\d+) queued, (\d+) sent, "
        r"0 pending, 0 failed, 0 cancelled",
        line,
    )
    assert match, line
    overdue, queued, sent = map(int, match.groups())
    assert overdue > 0 and queued > 0 and sent == queued


async def test_an_outbox_sweep_logs_only_when_it_did_something(demo_database, caplog):
    caplog.set_level(logging.INFO)
    settings = make_settings(demo_database)
    async with Database(demo_database) as db:
        await scheduler.sweep_outbox(db, settings)
        assert _lines(caplog, SCHEDULER_LOGGER) == []
        queued = await reminders.queue(
            db, settings, library_today(settings), datetime.now(UTC).replace(microsecond=0)
        )
        await scheduler.sweep_outbox(db, settings)
    assert queued.emails > 0
    assert _lines(caplog, SCHEDULER_LOGGER) == [
        f"outbox sweep: {queued.emails} sent, 0 failed, 0 deferred, 0 cancelled"
    ]


def test_imports_and_backups_log_their_counts(demo_database, tmp_path, capsys):
    source = tmp_path / "books.csv"
    source.write_text(BAD_ROWS_CSV, encoding="utf-8")
    assert main(["--database", str(demo_database), "import", "books", str(source)]) == 0
    err = capsys.readouterr().err
    assert re.search(
        rf"\[INFO\] shelfmark: import of {re.escape(str(source))}: 2 new, 0 updated, "
        r"2 duplicate, 5 invalid, 2 copies added$",
        err,
        re.MULTILINE,
    ), err

    target = tmp_path / "backup.sqlite3"
    assert main(["--database", str(demo_database), "backup", str(target)]) == 0
    err = capsys.readouterr().err
    assert re.search(
        rf"\[INFO\] shelfmark: backup of {re.escape(str(demo_database))} to "
        rf"{re.escape(str(target))}: \d+ pages, integrity check ok$",
        err,
        re.MULTILINE,
    ), err
