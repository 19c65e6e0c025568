"""The matrix in the models, on a real SQLite file: reminders skip loans of items not for
loan, and a returned copy is set aside only for a hold its item type allows."""

from __future__ import annotations

from datetime import date

import pytest

from bench.generate import add_rules_matrix
from webapp.db import connect_sync
from webapp.models import loans, reminders
from webapp.reminder_stages import DEFAULT_STAGES

MONDAY = date(2026, 11, 30)


@pytest.fixture
def library(database_path):
    conn = connect_sync(database_path)
    conn.execute("INSERT INTO Users (UserID, Name, Role, Email, CardNumber) VALUES "
                 "(1, 'Ann Lee', 'Student', 'ann@example.org', 'S1'), "
                 "(2, 'Bob Jones', 'Librarian', 'bob@example.org', 'L1'), "
                 "(3, 'Cy Dean', 'Student', 'cy@example.org', 'S3')")  # fmt: skip
    conn.execute("INSERT INTO Books (BookID, Title) VALUES (1, 'Atlas'), (2, 'Tidewater')")
    conn.execute("INSERT INTO Copies (CopyID, BookID, Barcode) VALUES "
                 "(1, 1, 'A1'), (2, 2, 'T1'), (3, 2, 'T2')")  # fmt: skip
    yield conn
    conn.close()


def set_type(conn, barcode, name):
    conn.execute(
        "UPDATE Copies SET ItemTypeID = (SELECT ItemTypeID FROM ItemTypes WHERE Name = ?) "
        "WHERE Barcode = ?",
        (name, barcode),
    )


def test_an_overdue_loan_of_an_item_not_for_loan_gets_no_reminder(library):
    library.execute("INSERT INTO Loans (UserID, BookID, CopyID, LoanDate, ReturnDate) VALUES "
                    "(1, 1, 1, '2026-11-01', '2026-11-15'), (3, 2, 2, '2026-11-01', '2026-11-15')")  # fmt: skip
    before = reminders.plan_tonight(library, DEFAULT_STAGES, MONDAY)
    assert {email.user_id for email in before.emails} == {1, 3}
    set_type(library, "A1", "Reference")  # Ann's copy is now reference only
    after = reminders.plan_tonight(library, DEFAULT_STAGES, MONDAY)
    assert {email.user_id for email in after.emails} == {3}


def test_a_returned_copy_is_set_aside_only_for_a_hold_its_item_type_allows(library):
    set_type(library, "T1", "Laptop")  # Laptops may not be held
    set_type(library, "T2", "Laptop")
    assert loans.lend(library, barcode="T1", patron_id=1, actor_id=2, today=MONDAY).ok
    assert loans.lend(library, barcode="T2", patron_id=2, actor_id=2, today=MONDAY).ok
    library.execute("INSERT INTO Holds (UserID, BookID) VALUES (3, 2)")
    returned = loans.return_copy(library, barcode="T1", actor_id=2, today=MONDAY)
    assert returned.ok and returned.set_aside is None
    assert library.execute("SELECT Status FROM Holds").fetchone()[0] == "waiting"
    set_type(library, "T2", "Book")
    returned = loans.return_copy(library, barcode="T2", actor_id=2, today=MONDAY)
    assert returned.set_aside is not None and returned.set_aside.patron_name == "Cy Dean"


def test_the_benchmarks_matrix_is_ten_by_ten_and_lends_as_before(library):
    add_rules_matrix(library)
    cells = library.execute(
        "SELECT count(*), count(DISTINCT CategoryID), count(DISTINCT ItemTypeID) "
        "FROM CirculationRules WHERE CategoryID IS NOT NULL AND ItemTypeID IS NOT NULL"
    ).fetchone()
    assert tuple(cells) == (100, 10, 10)
    assert library.execute("SELECT count(DISTINCT ItemTypeID) FROM Copies").fetchone()[0] == 3
    for barcode in ("A1", "T1", "T2"):
        outcome = loans.lend(library, barcode=barcode, patron_id=1, actor_id=2, today=MONDAY)
        assert outcome.ok, outcome.message
        assert "Year" in outcome.message  # a cell of the full matrix applied


def test_a_rule_changed_by_another_connection_applies_to_the_next_lend(library, database_path):
    first = loans.lend(library, barcode="T1", patron_id=1, actor_id=2, today=MONDAY)
    assert "Student: 14 days" in first.message  # this connection has read the rules now
    other = connect_sync(database_path)
    student = other.execute(
        "SELECT CategoryID FROM PatronCategories WHERE Name = 'Student'"
    ).fetchone()[0]
    other.execute(
        "UPDATE CirculationRules SET LoanDays = 3 WHERE CategoryID = ? AND ItemTypeID IS NULL",
        (student,),
    )
    other.execute("INSERT INTO ClosedDays (Day) VALUES ('2026-12-03')")
    other.close()
    second = loans.lend(library, barcode="T2", patron_id=1, actor_id=2, today=MONDAY)
    assert "Student: 3 days, 2 renewals, moved from Thu 03 Dec" in second.message
    # A change rolled back is forgotten again.
    library.execute("BEGIN")
    library.execute("UPDATE PatronCategories SET MaxLoans = 0 WHERE CategoryID = ?", (student,))
    assert not loans.lend(library, barcode="A1", patron_id=1, actor_id=2, today=MONDAY).ok
    library.execute("ROLLBACK")
    assert loans.lend(library, barcode="A1", patron_id=1, actor_id=2, today=MONDAY).ok
    # A change made after a rollback is read, not mistaken for the rolled-back one.
    library.execute("INSERT INTO Copies (CopyID, BookID, Barcode) VALUES (4, 2, 'T3')")
    library.execute("BEGIN")
    library.execute("UPDATE PatronCategories SET MaxLoans = 0 WHERE CategoryID = ?", (student,))
    assert not loans.lend(library, barcode="T3", patron_id=3, actor_id=2, today=MONDAY).ok
    library.execute("ROLLBACK")
    library.execute(
        "UPDATE CirculationRules SET LoanDays = 5 WHERE CategoryID = ? AND ItemTypeID IS NULL",
        (student,),
    )
    third = loans.lend(library, barcode="T3", patron_id=3, actor_id=2, today=MONDAY)
    assert third.ok and "Student: 5 days" in third.message
