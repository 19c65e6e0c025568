"""A mail server that answers "try again later" (4xx) to every message, against a real SMTP
server (aiosmtpd): the run is recorded as failed, not as a success with nothing sent; the
dashboard and /metrics say so; each message is retried with backoff (#17 item 8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from webapp.jobs import reminders

from webapp import create_app
from webapp.clock import parse_stamp
from webapp.config import Settings
from webapp.models import job_runs

from .reminder_helpers import Library, RecordingHandler, SmtpServer
from .test_metrics import sample
from .test_reminders import TODAY, days, mail_settings

RUN_AT = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


class DeferringHandler(RecordingHandler):
    """Answers 451 at RCPT or at DATA, as a server with a full queue does, until told not to."""

    def __init__(self, at: str) -> None:
        super().__init__()
        self.at = at
        self.deferring = True

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.deferring and self.at == "RCPT":
            return "451 4.3.0 Queue full, try again later"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        if self.deferring and self.at == "DATA":
            return "451 4.3.0 Queue full, try again later"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def library(database_path):
    built = Library(database_path)
    yield built
    built.close()


@pytest.mark.parametrize("at", ["RCPT", "DATA"])
async def test_a_run_the_mail_server_defers_entirely_is_failed_shown_and_retried(
    db, database_path, library, at
):
    library.loan(library.patron("Ann Archer", "ann@example.org"), "Late Book", days(-1))
    library.loan(library.patron("Ben Brook", "ben@example.org"), "Later Book", days(-3))
    server = SmtpServer()
    server.handler = DeferringHandler(at)
    server.start()
    try:
        settings = mail_settings(database_path, server.port)
        report = await reminders.run_reminders(db, settings, today=TODAY, clock=lambda: RUN_AT)

        assert report.counts.sent == 0 and report.counts.pending == 2
        assert report.error and "451" in report.error
        (run,) = await job_runs.recent_runs(db)
        assert run.status == "failed"
        status = await job_runs.last_run_status(db, RUN_AT)
        assert "deferred every message" in status.warning
        outbox = library.outbox()
        assert [(row["Status"], row["Attempts"]) for row in outbox] == [("pending", 1)] * 2
        assert all(parse_stamp(row["NextAttemptAt"]) > RUN_AT for row in outbox)

        app = create_app(
            Settings.from_env(
                {"SHELFMARK_METRICS_ALLOW": "127.0.0.1"},
                database=database_path,
                secret_key="test-secret",
            )
        )
        async with app.test_app() as test_app:
            scraped = await test_app.test_client().get(
                "/metrics", scope_base={"client": ("127.0.0.1", 50000)}
            )
            text = await scraped.get_data(as_text=True)
        assert sample(text, "shelfmark_reminder_last_run_status", status="failed") == 1
        assert sample(text, "shelfmark_reminder_last_run_status", status="succeeded") == 0

        # The server takes mail again: the sweep sends each message once its backoff is over.
        server.handler.deferring = False
        early = await reminders.send_pending(db, settings, clock=lambda: RUN_AT)
        assert early.sent == 0
        later = await reminders.send_pending(
            db, settings, clock=lambda: RUN_AT + timedelta(minutes=6)
        )
        assert later.sent == 2
        assert sorted(m["To"] for m in server.handler.messages()) == [
            "ann@example.org",
            "ben@example.org",
        ]
    finally:
        server.stop()
