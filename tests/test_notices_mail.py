"""Edited notices and the guardian's copy through the nightly run, to a real SMTP server."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta

import pytest
from webapp.jobs import reminders

from webapp import outbox
from webapp.models import holds, wording
from webapp.notice_templates import Wording

from .conftest import make_settings
from .reminder_helpers import Library, RecordingHandler, SmtpServer, html_of, text_of
from .test_reminders import mail_settings

TODAY = date(2026, 11, 29)

EDITED_REMINDER = Wording(
    "Overdue at {{ library_name }}: {{ overdue_count }} item{{ 's' if overdue_count != 1 }}",
    "Hi {{ patron_name }}!\n\n{% for item in items %}* {{ item.title }} ({{ item.days_overdue }} "
    "days late)\n{% endfor %}\n\nThanks, {{ library_name }}\n",
)


def days(n: int) -> date:
    return TODAY + timedelta(days=n)


class EnvelopeHandler(RecordingHandler):
    """Also keeps each message's envelope recipients: who the server delivers it to."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(list(envelope.rcpt_tos))
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def smtp():
    server = SmtpServer()
    server.handler = EnvelopeHandler()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def library(database_path):
    built = Library(database_path)
    yield built
    built.close()


def admin(library: Library) -> int:
    return library.conn.execute(
        "INSERT INTO Users (Name, Role, Email) VALUES ('Ada Admin', 'Admin', 'ada@test.example')"
    ).lastrowid


def guarded(library: Library, name: str, email: str, guardian: str) -> int:
    user_id = library.patron(name, email)
    library.conn.execute("UPDATE Users SET GuardianEmail = ? WHERE UserID = ?", (guardian, user_id))
    return user_id


async def test_an_edited_reminder_arrives_as_edited_and_courtesy_keeps_its_own(
    db, database_path, library, smtp
):
    ann = library.patron("Ann <Archer>", "ann@example.org")
    library.loan(ann, "Late & <i>Lost</i>", days(-8))
    ben = library.patron("Ben Brook", "ben@example.org")
    library.loan(ben, "Due Soon", days(2))
    await db.write(wording.save, "reminder", EDITED_REMINDER, admin(library))

    await reminders.run_reminders(db, mail_settings(database_path, smtp.port), today=TODAY)

    (to_ann,) = smtp.handler.to("ann@example.org")
    assert to_ann["Subject"] == "Overdue at Test Library: 1 item"
    assert text_of(to_ann) == (
        "Hi Ann <Archer>!\n\n* Late & <i>Lost</i> (8 days late)\n\nThanks, Test Library\n"
    )
    html = html_of(to_ann)
    assert "Hi Ann &lt;Archer&gt;!" in html and "Late &amp; &lt;i&gt;Lost&lt;/i&gt;" in html
    assert "<i>" not in html
    # Ben's email has only an item due soon: a courtesy notice, still in the built-in wording.
    (to_ben,) = smtp.handler.to("ben@example.org")
    assert to_ben["Subject"] == "Test Library: 1 item due back soon"
    assert "Due back soon" in text_of(to_ben) and "<table>" in html_of(to_ben)


async def test_with_nothing_edited_the_reminder_is_the_built_in_one(
    db, database_path, library, smtp
):
    ann = library.patron("Ann Archer", "ann@example.org")
    library.loan(ann, "Slightly Late", days(-1))

    await reminders.run_reminders(db, mail_settings(database_path, smtp.port), today=TODAY)

    (message,) = smtp.handler.messages()
    assert message["Subject"] == "Test Library: 1 overdue item"
    text = text_of(message)
    assert text.startswith("Dear Ann Archer,\n\nOverdue by 1 day or more:\n  - Slightly Late\n")
    assert text.endswith("please ignore it here.\n\nTest Library\n")
    assert "<table>" in html_of(message) and message["Cc"] is None
    (row,) = library.outbox()
    assert row["BodyText"] == text and row["WordingVersion"] == 0


async def test_the_guardian_is_copied_on_an_overdue_reminder_only(db, database_path, library, smtp):
    late = guarded(library, "Lou Late", "lou@example.org", "lous.parent@example.org")
    library.loan(late, "Overdue Book", days(-1))
    library.loan(late, "Soon Book", days(2))
    soon = guarded(library, "Sue Soon", "sue@example.org", "sues.parent@example.org")
    library.loan(soon, "Only Soon", days(1))

    await reminders.run_reminders(db, mail_settings(database_path, smtp.port), today=TODAY)

    (to_lou,) = smtp.handler.to("lou@example.org")
    assert to_lou["Cc"] == "lous.parent@example.org"
    (to_sue,) = smtp.handler.to("sue@example.org")
    assert to_sue["Cc"] is None
    assert sorted(map(sorted, smtp.handler.envelopes)) == [
        ["lou@example.org", "lous.parent@example.org"],
        ["sue@example.org"],
    ]
    # One message each, sent once, even though Lou's went to two addresses.
    again = await reminders.run_reminders(db, mail_settings(database_path, smtp.port), today=TODAY)
    assert again.counts.sent == 0 and len(smtp.handler.messages()) == 2
    cc = library.conn.execute("SELECT Recipient, Cc FROM Outbox ORDER BY Recipient").fetchall()
    assert [tuple(row) for row in cc] == [
        ("lou@example.org", "lous.parent@example.org"),
        ("sue@example.org", None),
    ]


async def test_no_copy_once_the_overdue_items_are_back_before_sending(db, database_path, library):
    server = SmtpServer()
    server.handler = EnvelopeHandler()
    late = guarded(library, "Lou Late", "lou@example.org", "parent@example.org")
    overdue = library.loan(late, "Overdue Book", days(-1))
    library.loan(late, "Soon Book", days(2))
    settings = mail_settings(database_path, server.port)
    await reminders.run_reminders(db, settings, today=TODAY)  # the server is down: queued
    library.return_loan(overdue, TODAY)

    server.start()
    try:
        await reminders.run_reminders(db, settings, today=TODAY)
    finally:
        server.stop()
    (message,) = server.handler.messages()
    assert message["Cc"] is None and server.handler.envelopes == [["lou@example.org"]]
    assert "Soon Book" in text_of(message) and "Overdue Book" not in text_of(message)


async def test_a_reminder_goes_out_in_the_wording_in_force_when_it_was_queued(
    db, database_path, library
):
    server = SmtpServer()
    library.loan(library.patron("Ann Archer", "ann@example.org"), "Late Book", days(-1))
    settings = mail_settings(database_path, server.port)
    await reminders.run_reminders(db, settings, today=TODAY)  # the server is down: queued
    await db.write(wording.save, "reminder", EDITED_REMINDER, admin(library))

    server.start()
    try:
        await reminders.run_reminders(db, settings, today=TODAY)
        queued_before = server.handler.messages()
        await reminders.run_reminders(db, settings, today=days(7))
        queued_after = server.handler.messages()[len(queued_before) :]
    finally:
        server.stop()
    (before,) = queued_before
    assert before["Subject"] == "Test Library: 1 overdue item"
    (after,) = queued_after
    assert after["Subject"] == "Overdue at Test Library: 1 item"


async def test_an_edited_hold_notice_is_written_when_the_copy_is_set_aside(db, library):
    ann = library.patron("Ann Archer", "ann@example.org")
    book_id = library.conn.execute("INSERT INTO Books (Title) VALUES ('Wanted')").lastrowid
    copy_id = library.conn.execute(
        "INSERT INTO Copies (BookID, Barcode) VALUES (?, 'W1')", (book_id,)
    ).lastrowid
    library.conn.execute("INSERT INTO Holds (UserID, BookID) VALUES (?, ?)", (ann, book_id))
    await db.write(
        wording.save,
        "hold_ready",
        Wording("{{ title }} is here", "{{ patron_name }}: collect by {{ pickup_by }}."),
        admin(library),
    )

    await db.write(
        holds.offer_to_queue,
        copy_id=copy_id,
        book_id=book_id,
        today=TODAY,
        actor_id=None,
        library_name="Test Library",
    )

    (row,) = library.conn.execute("SELECT Subject, BodyText, BodyHtml FROM Outbox").fetchall()
    assert row["Subject"] == "Wanted is here"
    assert row["BodyText"].startswith("Ann Archer: collect by 2026-")
    assert "<p>Ann Archer: collect by" in row["BodyHtml"]


async def test_a_refused_guardian_address_does_not_stop_the_patrons_reminder(
    db, database_path, library, smtp
):
    late = guarded(library, "Lou Late", "lou@example.org", "gone@example.org")
    library.loan(late, "Overdue Book", days(-1))
    smtp.handler.refuse["gone@example.org"] = "550 no such mailbox"

    report = await reminders.run_reminders(db, mail_settings(database_path, smtp.port), today=TODAY)

    assert report.counts.sent == 1 and report.counts.failed == 0
    assert smtp.handler.envelopes == [["lou@example.org"]]
    (message,) = smtp.handler.to("lou@example.org")
    assert message["Cc"] == "gone@example.org"


async def test_a_refused_patron_address_still_reaches_the_guardian(
    db, database_path, library, smtp
):
    late = guarded(library, "Lou Late", "lou@example.org", "parent@example.org")
    library.loan(late, "Overdue Book", days(-1))
    smtp.handler.refuse["lou@example.org"] = "550 no such mailbox"

    report = await reminders.run_reminders(db, mail_settings(database_path, smtp.port), today=TODAY)

    assert report.counts.sent == 1
    assert smtp.handler.envelopes == [["parent@example.org"]]


async def test_without_a_mail_server_the_mailbox_keeps_the_guardians_copy(
    db, database_path, library
):
    late = guarded(library, "Lou Late", "lou@example.org", "parent@example.org")
    library.loan(late, "Overdue Book", days(-1))

    await reminders.run_reminders(db, make_settings(database_path), today=TODAY)

    (entry,) = await db.read(outbox.mailbox)
    message = await db.read(outbox.mailbox_message, entry.message_id)
    assert (message.recipient, message.cc) == ("lou@example.org", "parent@example.org")


def test_saved_wordings_are_never_changed_or_deleted(library):
    library.conn.execute(
        "INSERT INTO NoticeWordings (Kind, Subject, Body) VALUES ('reminder', 'S', 'B')"
    )
    for statement in (
        "UPDATE NoticeWordings SET Body = 'changed'",
        "DELETE FROM NoticeWordings",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="never"):
            library.conn.execute(statement)
