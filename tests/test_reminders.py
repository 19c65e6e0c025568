"""The nightly run against a real SMTP server (aiosmtpd) and a real SQLite file."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from webapp.jobs import reminders, scheduler

from webapp import outbox
from webapp.db import Database
from webapp.models import job_runs
from webapp.models import reminders as notices

from .conftest import log_in, make_settings
from .reminder_helpers import Library, SmtpServer, html_of, text_of

TODAY = date(2026, 11, 29)


def days(n: int) -> date:
    return TODAY + timedelta(days=n)


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def library(database_path):
    built = Library(database_path)
    yield built
    built.close()


async def finished_run(db) -> job_runs.RunStatus:
    """Wait for the scheduler's first run to finish (it runs on this event loop)."""
    for _ in range(1000):
        status = await job_runs.last_run_status(db)
        if status.last_run and status.last_run.status != "running":
            return status
        await asyncio.sleep(0.01)
    raise AssertionError("the scheduler did not finish a run")


def mail_settings(database_path, port: int, **overrides):
    return make_settings(
        database_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout=5,
        mail_from="Test Library <library@test.example>",
        library_name="Test Library",
        **overrides,
    )


async def test_one_email_per_patron_lists_each_item_at_its_stage(db, database_path, library, smtp):
    ann = library.patron("Ann Archer", "ann@example.org")
    library.loan(ann, "Slightly Late", days(-1))
    library.loan(ann, "Rather <b>Late</b> & Co", days(-8))
    ben = library.patron("Ben Brook", "ben@example.org")
    library.loan(ben, "Due Soon", days(2))
    cat = library.patron("Cat Cole", "cat@example.org")
    library.loan(cat, "Not Yet", days(5))
    dan = library.patron("Dan Drew", "dan@example.org")
    library.return_loan(library.loan(dan, "Back Already", days(-3)), days(-1))
    eve = library.patron("Eve Nomail", None)
    library.loan(eve, "Paper Notice", days(-2))

    report = await reminders.run_reminders(db, mail_settings(database_path, smtp.port), today=TODAY)

    received = smtp.handler.messages()
    assert sorted(m["To"] for m in received) == ["ann@example.org", "ben@example.org"]
    (to_ann,) = smtp.handler.to("ann@example.org")
    text = text_of(to_ann)
    assert "Slightly Late" in text and "1 day overdue" in text
    assert "Rather <b>Late</b> & Co" in text and "8 days overdue" in text
    assert "T00001" in text and "28 November 2026" in text and "Test Library" in text
    # Overdue students may not renew (tests/test_reminder_advice.py has the advice per loan).
    assert "Please bring them back to the desk." in text and "To renew" not in text
    html = html_of(to_ann)
    assert "Rather &lt;b&gt;Late&lt;/b&gt; &amp; Co" in html and "<b>Late" not in html
    assert to_ann["Subject"] == "Test Library: 2 overdue items"
    assert to_ann["From"] == "Test Library <library@test.example>"
    (to_ben,) = smtp.handler.to("ben@example.org")
    assert "Due back soon" in text_of(to_ben) and "overdue" not in text_of(to_ben)
    assert "To renew" in text_of(to_ben)
    assert {row["HeaderMessageID"] for row in library.outbox()} == set(smtp.handler.message_ids())

    assert (report.counts.flagged, report.counts.sent, report.counts.pending) == (3, 2, 0)
    by_hand = await notices.notify_by_hand(db)
    assert [(e.patron_name, e.title) for e in by_hand] == [("Eve Nomail", "Paper Notice")]


async def test_a_second_run_sends_nothing_new(db, database_path, library, smtp):
    ann = library.patron("Ann Archer", "ann@example.org")
    library.loan(ann, "Late Book", days(-1))
    settings = mail_settings(database_path, smtp.port)

    await reminders.run_reminders(db, settings, today=TODAY)
    again = await reminders.run_reminders(db, settings, today=TODAY)
    next_day = await reminders.run_reminders(db, settings, today=days(1))

    assert len(smtp.handler.messages()) == 1
    assert (again.counts.queued, again.counts.sent) == (0, 0)
    assert (next_day.counts.flagged, next_day.counts.sent) == (1, 0)


async def test_mail_server_down_then_up_sends_everything_once(db, database_path, library):
    server = SmtpServer()
    for name in ("ann", "ben", "cat"):
        library.loan(library.patron(name.title(), f"{name}@example.org"), f"{name} book", days(-1))
    settings = mail_settings(database_path, server.port)

    down = await reminders.run_reminders(db, settings, today=TODAY)
    assert down.counts.pending == 3 and down.counts.sent == 0
    assert "mail server unavailable" in down.error
    status = await job_runs.last_run_status(db)
    assert "failed" in status.warning

    server.start()
    try:
        up = await reminders.run_reminders(db, settings, today=TODAY)
        await reminders.run_reminders(db, settings, today=TODAY)
        ids = server.handler.message_ids()
    finally:
        server.stop()
    assert up.counts.sent == 3 and up.counts.pending == 0 and up.error is None
    assert len(ids) == 3 and len(set(ids)) == 3
    assert (await job_runs.last_run_status(db)).warning is None


async def test_a_refused_recipient_fails_alone_and_a_busy_one_is_retried(
    db, database_path, library, smtp
):
    for name in ("ann", "ben", "cat"):
        library.loan(library.patron(name.title(), f"{name}@example.org"), f"{name} book", days(-1))
    smtp.handler.refuse["ann@example.org"] = "550 5.1.1 <ann@example.org>: no such mailbox"
    smtp.handler.refuse["cat@example.org"] = "450 4.2.1 mailbox busy, try later"
    settings = mail_settings(database_path, smtp.port)

    first = await reminders.run_reminders(db, settings, today=TODAY)

    assert [m["To"] for m in smtp.handler.messages()] == ["ben@example.org"]
    assert (first.counts.sent, first.counts.failed, first.counts.pending) == (1, 1, 1)
    (failed,) = await db.read(outbox.failed_messages)
    assert failed.recipient == "ann@example.org"
    assert "550 5.1.1 <ann@example.org>: no such mailbox" in failed.error

    del smtp.handler.refuse["cat@example.org"]
    await reminders.run_reminders(db, settings, today=TODAY)
    assert sorted(m["To"] for m in smtp.handler.messages()) == [
        "ben@example.org",
        "cat@example.org",
    ]


async def test_an_item_returned_after_queueing_is_not_mentioned(db, database_path, library, smtp):
    ann = library.patron("Ann Archer", "ann@example.org")
    library.loan(ann, "Ann's Book", days(-1))
    ben = library.patron("Ben Brook", "ben@example.org")
    library.loan(ben, "Still Out", days(-1))
    returned_by_ben = library.loan(ben, "Brought Back", days(-1))
    cat = library.patron("Cat Cole", "cat@example.org")
    returned_by_cat = library.loan(cat, "Cat's Only Book", days(-1))
    smtp.handler.hold_at = 1

    run = asyncio.create_task(
        reminders.run_reminders(db, mail_settings(database_path, smtp.port), today=TODAY)
    )
    assert await asyncio.to_thread(smtp.handler.holding.wait, 10)
    library.return_loan(returned_by_ben, TODAY)
    library.return_loan(returned_by_cat, TODAY)
    smtp.handler.release.set()
    report = await run

    assert sorted(m["To"] for m in smtp.handler.messages()) == [
        "ann@example.org",
        "ben@example.org",
    ]
    (to_ben,) = smtp.handler.to("ben@example.org")
    assert "Still Out" in text_of(to_ben) and "Brought Back" not in text_of(to_ben)
    assert "Brought Back" not in html_of(to_ben)
    assert to_ben["Subject"] == "Test Library: 1 overdue item"
    assert report.cancelled == 1


async def test_a_renewal_moves_the_due_date_and_re_arms_the_stages(
    db, database_path, library, smtp
):
    ann = library.patron("Ann Archer", "ann@example.org")
    loan = library.loan(ann, "Renewed Book", days(-1))
    settings = mail_settings(database_path, smtp.port)

    await reminders.run_reminders(db, settings, today=TODAY)
    library.renew(loan, days(12))
    await reminders.run_reminders(db, settings, today=days(1))
    await reminders.run_reminders(db, settings, today=days(10))
    await reminders.run_reminders(db, settings, today=days(13))

    bodies = [text_of(m) for m in smtp.handler.messages()]
    assert len(bodies) == 3
    assert "1 day overdue" in bodies[0]
    assert "Due back soon" in bodies[1] and "11 December 2026" in bodies[1]
    assert "1 day overdue" in bodies[2] and "11 December 2026" in bodies[2]


async def test_missed_nights_send_the_stage_reached_not_every_stage_skipped(
    db, database_path, library, smtp
):
    loan = library.loan(library.patron("Ann Archer", "ann@example.org"), "Long Lost", days(-1))
    settings = mail_settings(database_path, smtp.port)

    await reminders.run_reminders(db, settings, today=TODAY)
    await reminders.run_reminders(db, settings, today=days(24))

    assert len(smtp.handler.messages()) == 2
    assert "Overdue by 21 days or more" in text_of(smtp.handler.messages()[1])
    stages = await db.fetch_all(
        "SELECT Stage FROM Notices WHERE LoanID = ? ORDER BY Stage", (loan,)
    )
    assert [row[0] for row in stages] == [1, 21]


async def test_due_today_is_a_courtesy_notice_and_yesterday_is_overdue(
    db, database_path, library, smtp
):
    library.loan(library.patron("Ann Archer", "ann@example.org"), "Due Today", TODAY)
    library.loan(library.patron("Ben Brook", "ben@example.org"), "Due Yesterday", days(-1))

    report = await reminders.run_reminders(db, mail_settings(database_path, smtp.port), today=TODAY)

    assert report.counts.flagged == 1
    (to_ann,) = smtp.handler.to("ann@example.org")
    assert "Due back soon" in text_of(to_ann) and "overdue" not in text_of(to_ann)
    (to_ben,) = smtp.handler.to("ben@example.org")
    assert "1 day overdue" in text_of(to_ben)


@pytest.mark.parametrize(
    "timezone, expected",
    [("Europe/London", "Due back soon"), ("Pacific/Auckland", "1 day overdue")],
)
async def test_today_is_the_date_in_the_librarys_timezone(
    db, database_path, library, smtp, timezone, expected
):
    # 11:30 UTC on 29 November is still the 29th in London but already the 30th in Auckland.
    library.loan(library.patron("Ann Archer", "ann@example.org"), "Due The 29th", TODAY)
    settings = mail_settings(database_path, smtp.port, timezone=timezone)

    await reminders.run_reminders(
        db, settings, clock=lambda: datetime(2026, 11, 29, 11, 30, tzinfo=UTC)
    )

    (message,) = smtp.handler.messages()
    assert expected in text_of(message)


async def test_hold_ready_notices_in_the_outbox_go_out_by_the_same_path(
    db, database_path, library, smtp
):
    ann = library.patron("Ann Archer", "ann@example.org")
    library.conn.execute(
        "INSERT INTO Outbox (Kind, UserID, Recipient, Subject, BodyText, BodyHtml, HeaderMessageID) "
        "VALUES ('hold_ready', ?, 'ann@example.org', 'Your hold is ready', 'Collect it by Friday.', "
        "'<p>Collect it by Friday.</p>', '<hold-1@test.example>')",
        (ann,),
    )

    await reminders.run_reminders(db, mail_settings(database_path, smtp.port), today=TODAY)
    await reminders.send_pending(db, mail_settings(database_path, smtp.port))

    (message,) = smtp.handler.messages()
    assert (
        message["Subject"] == "Your hold is ready"
        and message["Message-ID"] == "<hold-1@test.example>"
    )


async def test_without_a_mail_server_every_email_lands_in_the_in_app_mailbox(
    db, database_path, library, smtp
):
    library.loan(library.patron("Ann Archer", "ann@example.org"), "Late Book", days(-1))
    settings = make_settings(database_path)

    report = await reminders.run_reminders(db, settings, today=TODAY)

    assert smtp.handler.messages() == []
    assert report.counts.sent == 1
    (entry,) = await db.read(outbox.mailbox)
    assert entry.recipient == "ann@example.org" and "1 overdue item" in entry.subject


async def test_librarians_preview_run_and_read_the_mailbox(app, client, settings):
    async with app.test_client() as student:
        await log_in(student, "alice@example.com")
        assert (await student.get("/admin/reminders")).status_code == 403
        assert (await student.get("/admin/mailbox")).status_code == 403

    token = await log_in(client, "bob@example.com")
    page = await (await client.get("/admin/reminders")).get_data(as_text=True)
    assert "alice@example.com" in page and "Preview of the run for" in page
    assert "has never run" in page

    response = await client.post("/admin/reminders/run", form={"csrf_token": token})
    assert response.status_code == 303
    await asyncio.gather(*app.app.background_tasks)

    page = await (await client.get("/admin/reminders")).get_data(as_text=True)
    assert "succeeded" in page and "has never run" not in page
    fragment = await client.post(
        "/admin/reminders/run", headers={"HX-Request": "true", "X-CSRF-Token": token}
    )
    await asyncio.gather(*app.app.background_tasks)
    fragment_html = await fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "The run has started" in fragment_html
    assert "<html" not in fragment_html
    mailbox = await (await client.get("/admin/mailbox")).get_data(as_text=True)
    assert "alice@example.com" in mailbox
    async with Database(settings.database) as db:
        entries = await db.read(outbox.mailbox)
    alice = next(e for e in entries if e.recipient == "alice@example.com")
    message = await (await client.get(f"/admin/mailbox/{alice.message_id}")).get_data(as_text=True)
    assert "The Great Gatsby" in message and "Dear Alice Smith" in message
    html = await client.get(f"/admin/mailbox/{alice.message_id}/html")
    assert "sandbox" in html.headers["Content-Security-Policy"]
    assert (await client.get("/admin/mailbox/999999")).status_code == 404
    assert (await client.get("/admin/reminders/by-hand")).status_code == 200


async def test_run_now_without_the_csrf_token_changes_nothing(app, client):
    await log_in(client, "bob@example.com")
    response = await client.post("/admin/reminders/run", form={})
    assert response.status_code == 400
    assert "never run" in await (await client.get("/admin/reminders")).get_data(as_text=True)


async def test_the_scheduler_catches_up_a_missed_night_at_start(db, database_path, library):
    library.loan(library.patron("Ann Archer", "ann@example.org"), "Late Book", days(-1))
    settings = make_settings(database_path)

    running = await scheduler.start(db, settings)
    try:
        nightly = running.get_job("nightly-reminders")
        assert nightly.misfire_grace_time >= 3600 and nightly.coalesce
        status = await finished_run(db)
    finally:
        running.shutdown(wait=False)
    assert status.last_run.trigger == "catch-up" and status.last_run.status == "succeeded"
    assert len(await db.read(outbox.mailbox)) == 1


async def test_the_web_app_runs_the_scheduler_only_when_told_to(demo_database):
    from webapp import create_app

    quiet = create_app(make_settings(demo_database))
    async with quiet.test_app():
        assert "shelfmark.scheduler" not in quiet.extensions

    app = create_app(make_settings(demo_database, in_process_scheduler=True))
    async with app.test_app():
        running = app.extensions["shelfmark.scheduler"]
        assert running.running
        db = app.extensions["shelfmark.db"]
        status = await finished_run(db)
        assert status.last_run.trigger == "catch-up"
        assert any(e.recipient == "alice@example.com" for e in await db.read(outbox.mailbox))
    assert not running.running


async def test_pending_mail_goes_to_the_mailbox_once_smtp_is_unset_without_returned_items(
    db, database_path, library
):
    ben = library.patron("Ben Brook", "ben@example.org")
    library.loan(ben, "Still Out", days(-1))
    brought_back = library.loan(ben, "Brought Back", days(-1))
    cat = library.patron("Cat Cole", "cat@example.org")
    cats_only = library.loan(cat, "Cat's Only Book", days(-1))
    await reminders.run_reminders(db, mail_settings(database_path, SmtpServer().port), today=TODAY)
    library.return_loan(brought_back, TODAY)
    library.return_loan(cats_only, TODAY)

    report = await reminders.run_reminders(db, make_settings(database_path), today=TODAY)

    assert (report.counts.sent, report.cancelled) == (1, 1)
    (entry,) = await db.read(outbox.mailbox)
    message = await db.read(outbox.mailbox_message, entry.message_id)
    assert message.recipient == "ben@example.org"
    assert "Still Out" in message.body_text and "Brought Back" not in message.body_text
    assert "Brought Back" not in message.body_html


async def test_the_outbox_sweep_waits_for_the_backoff_but_the_nightly_run_retries(
    db, database_path, library
):
    server = SmtpServer()
    library.loan(library.patron("Ann Archer", "ann@example.org"), "Late Book", days(-1))
    settings = mail_settings(database_path, server.port)
    await reminders.run_reminders(db, settings, today=TODAY)
    server.start()
    try:
        swept = await reminders.send_pending(db, settings)
        assert swept.sent == 0 and server.handler.messages() == []

        def after_the_first_backoff() -> datetime:
            return datetime.now(UTC) + timedelta(minutes=6)

        swept = await reminders.send_pending(db, settings, clock=after_the_first_backoff)
        assert swept.sent == 1
        assert len(server.handler.messages()) == 1
    finally:
        server.stop()


async def test_configured_text_cannot_add_mail_headers(db, database_path, library, smtp):
    library.loan(library.patron("Ann Archer", "ann@example.org"), "Late Book", days(-1))
    settings = replace(
        mail_settings(database_path, smtp.port), library_name="Evil\r\nBcc: all@example.org"
    )

    await reminders.run_reminders(db, settings, today=TODAY)

    (message,) = smtp.handler.messages()
    assert message["Bcc"] is None
    assert message["Subject"] == "Evil Bcc: all@example.org: 1 overdue item"


async def test_an_uncollected_hold_expires_and_the_next_patron_is_emailed(
    db, database_path, library, smtp
):
    ann = library.patron("Ann Archer", "ann@example.org")
    ben = library.patron("Ben Brook", "ben@example.org")
    conn = library.conn
    book = conn.execute("INSERT INTO Books (Title) VALUES ('Much Wanted')").lastrowid
    copy = conn.execute(
        "INSERT INTO Copies (BookID, Barcode) VALUES (?, 'H00001')", (book,)
    ).lastrowid
    conn.execute(
        "INSERT INTO Holds (UserID, BookID, PlacedAt, Status, CopyID, PickupBy) "
        "VALUES (?, ?, '2026-11-01T10:00:00Z', 'ready', ?, ?)",
        (ann, book, copy, days(-1).isoformat()),
    )
    conn.execute(
        "INSERT INTO Holds (UserID, BookID, PlacedAt) VALUES (?, ?, '2026-11-02T10:00:00Z')",
        (ben, book),
    )

    await reminders.run_reminders(db, mail_settings(database_path, smtp.port), today=TODAY)

    (message,) = smtp.handler.messages()
    assert (
        message["To"] == "ben@example.org" and message["Subject"] == "Ready to collect: Much Wanted"
    )
    statuses = conn.execute("SELECT UserID, Status FROM Holds ORDER BY HoldID").fetchall()
    assert [tuple(row) for row in statuses] == [(ann, "expired"), (ben, "ready")]


async def test_names_and_titles_beyond_ascii_arrive_intact(db, database_path, library, smtp):
    zoe = library.patron("Zoë Ørsted", "zoe@example.org")
    library.loan(zoe, "Les Misérables — tome 1", days(-1))
    settings = replace(mail_settings(database_path, smtp.port), library_name="Bibliothèque Étoile")

    await reminders.run_reminders(db, settings, today=TODAY)

    (message,) = smtp.handler.messages()
    assert message["Subject"] == "Bibliothèque Étoile: 1 overdue item"
    assert "Dear Zoë Ørsted" in text_of(message) and "Les Misérables — tome 1" in text_of(message)
    assert "Les Misérables — tome 1" in html_of(message)


async def test_the_preview_lists_what_the_run_then_sends(db, database_path, library, smtp):
    ann = library.patron("Ann Archer", "ann@example.org")
    library.loan(ann, "Late", days(-3))
    library.loan(ann, "Soon", days(2))
    library.loan(library.patron("Eve Nomail", None), "Paper Notice", days(-1))
    settings = mail_settings(database_path, smtp.port)

    preview = await notices.preview(db, settings, TODAY, listed=10)
    await reminders.run_reminders(db, settings, today=TODAY)

    (planned,) = preview.emails
    (sent,) = smtp.handler.messages()
    assert (planned.recipient, planned.subject, planned.items) == (sent["To"], sent["Subject"], 2)
    assert sent["Subject"] == "Test Library: 1 overdue item and 1 item due back soon"
    assert (preview.plan.flagged, preview.plan.by_hand, preview.plan.notice_count) == (2, 1, 3)
    assert (await notices.preview(db, settings, TODAY, listed=10)).emails == []
