"""The reminder email's advice follows the rules for each loan: renew online only where the
patron could, otherwise bring it back, and why (a real run, a real SMTP server)."""

from __future__ import annotations

import pytest
from webapp.jobs import reminders

from .reminder_helpers import Library, SmtpServer, html_of, text_of
from .test_reminders import TODAY, days, mail_settings


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


async def test_an_overdue_student_is_told_to_bring_it_back_not_to_renew(
    db, database_path, library, smtp
):
    # Students may not renew overdue loans (the demo rules: no grace).
    ann = library.patron("Ann Archer", "ann@example.org")
    library.loan(ann, "Slightly Late", days(-1))

    await reminders.run_reminders(db, mail_settings(database_path, smtp.port), today=TODAY)

    (to_ann,) = smtp.handler.to("ann@example.org")
    text = text_of(to_ann)
    assert "It is overdue and can no longer be renewed: please bring it back." in text
    assert "To renew" not in text and "choose Renew" not in text
    assert "Please bring it back to the desk." in text
    assert "please bring it back" in html_of(to_ann) and "To renew" not in html_of(to_ann)


async def test_each_item_gets_its_own_advice_and_renewing_is_offered_where_allowed(
    db, database_path, library, smtp
):
    ben = library.patron("Ben Brook", "ben@example.org")
    library.loan(ben, "Due Soon", days(2))
    used_up = library.loan(ben, "Renewed Twice", days(-10))
    library.renew(used_up, days(2))
    library.renew(used_up, days(2))
    held = library.loan(ben, "Wanted Elsewhere", days(2))
    other = library.patron("Cat Cole", "cat@example.org")
    library.conn.execute(
        "INSERT INTO Holds (UserID, BookID, Status) "
        "SELECT ?, BookID, 'waiting' FROM Loans WHERE LoanID = ?",
        (other, held),
    )

    await reminders.run_reminders(db, mail_settings(database_path, smtp.port), today=TODAY)

    (to_ben,) = smtp.handler.to("ben@example.org")
    text = text_of(to_ben)
    sections = {chunk.split("\n", 1)[0].strip(): chunk for chunk in text.split("  - ")[1:]}
    assert "You can renew it online" in sections["Due Soon"]
    assert (
        "already been renewed twice, the most allowed: please bring it back"
        in (sections["Renewed Twice"])
    )
    assert "Someone is waiting for it, so it cannot be renewed" in sections["Wanted Elsewhere"]
    # One of them may be renewed, so the closing words say how.
    assert "To renew, sign in" in text
