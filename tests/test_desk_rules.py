"""The desk's rules without a server: too-soon renewals, lost and found, claims returned,
overrides (pure functions of webapp.rules), and the models that carry them out on a real
SQLite file."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from webapp import rules
from webapp.db import connect_sync
from webapp.models import events, loans, records, reminders

STUDENT = rules.LoanRule(
    "Student",
    loan_days=14,
    max_loans=2,
    max_renewals=1,
    block_when_overdue=True,
    renew_overdue_days=0,
    max_holds=5,
)
OPEN = rules.Calendar()
MONDAY = date(2026, 11, 30)


def standing(open_loans=0, overdue=0, active=True):
    return rules.PatronStanding(
        "Ann Lee", active=active, open_loans=open_loans, overdue_loans=overdue
    )


# Too soon to renew


def test_a_renewal_on_the_day_of_borrowing_moves_nothing_and_is_refused():
    due = rules.due_date(MONDAY, STUDENT, OPEN).day
    renewed = rules.renewed_due_date(MONDAY, due, STUDENT, OPEN)
    decision = rules.renewal_moves_due(due, renewed)
    assert not decision
    assert decision.reason == "Too soon to renew: it is already due Mon 14 Dec 2026."


def test_a_renewal_that_moves_the_due_date_later_is_allowed():
    due = MONDAY + timedelta(days=2)
    renewed = rules.renewed_due_date(MONDAY, due, STUDENT, OPEN)
    assert renewed.day == MONDAY + timedelta(days=14)
    assert rules.renewal_moves_due(due, renewed)


# Overrides


def test_an_override_reason_is_required_and_kept_to_500_characters():
    for empty in (None, "", "  ", "ok"):
        with pytest.raises(ValueError, match="Give a reason"):
            rules.override_reason(empty)
    with pytest.raises(ValueError, match="500 characters"):
        rules.override_reason("x" * 501)
    assert rules.override_reason("  exam\nweek  ") == "exam week"
    assert rules.override_reason("x" * 500) == "x" * 500


def test_students_never_override_and_staff_do():
    assert not rules.may_override("Student")
    assert not rules.may_override(None)
    assert rules.may_override("Librarian") and rules.may_override("Admin")


def test_a_lend_past_the_limit_or_the_overdue_block_may_be_overridden_naming_the_rule():
    at_limit = rules.can_lend_anyway(standing(open_loans=2), STUDENT, copy_status="in_stock")
    assert at_limit and "the limit for Student (2)" in at_limit.reason
    blocked = rules.can_lend_anyway(
        standing(open_loans=1, overdue=1), STUDENT, copy_status="in_stock"
    )
    assert blocked and "must come back" in blocked.reason
    nothing = rules.can_lend_anyway(standing(), STUDENT, copy_status="in_stock")
    assert nothing and nothing.reason == ""


@pytest.mark.parametrize(
    ("patron", "copy_status", "set_aside_for", "reason"),
    [
        (standing(open_loans=2), "withdrawn", None, "withdrawn"),
        (standing(open_loans=2), "lost", None, "recorded as lost"),
        (standing(open_loans=2), "in_stock", "Eli Park", "set aside for Eli Park"),
        (standing(active=False), "in_stock", None, "inactive"),
    ],
)
def test_what_is_never_overridden(patron, copy_status, set_aside_for, reason):
    decision = rules.can_lend_anyway(
        patron, STUDENT, copy_status=copy_status, set_aside_for=set_aside_for
    )
    assert not decision
    assert reason in decision.reason and "cannot be overridden" in decision.reason


def test_a_renewal_past_the_limit_may_be_overridden_but_not_past_a_hold_or_overdue():
    kwargs = {"rule": STUDENT, "renewals": 1, "due": MONDAY, "today": MONDAY}
    assert not rules.can_renew(**kwargs, held_by_another=False)
    anyway = rules.can_renew_anyway(**kwargs, held_by_another=False)
    assert anyway and "Already renewed 1 times" in anyway.reason
    held = rules.can_renew_anyway(**kwargs, held_by_another=True)
    assert not held and "waiting" in held.reason
    late = rules.can_renew_anyway(
        **{**kwargs, "due": MONDAY - timedelta(days=3)}, held_by_another=False
    )
    assert not late and "overdue" in late.reason


def test_a_due_date_change_is_refused_in_the_past_on_a_closed_day_or_too_far_ahead():
    closed_saturdays = rules.Calendar(closed_weekdays=frozenset({5}))
    check = {
        "current_due": MONDAY + timedelta(days=14),
        "today": MONDAY,
        "calendar": closed_saturdays,
    }
    past = rules.can_change_due(MONDAY - timedelta(days=1), **check)
    assert not past and "in the past" in past.reason
    saturday = rules.can_change_due(date(2026, 12, 5), **check)
    assert not saturday and "closed on Sat 5 Dec 2026" in saturday.reason
    assert "Sun 6 Dec 2026" in saturday.reason
    assert not rules.can_change_due(MONDAY + timedelta(days=366), **check)
    same = rules.can_change_due(MONDAY + timedelta(days=14), **check)
    assert not same and "already due" in same.reason
    assert rules.can_change_due(MONDAY, **check)  # today: bring it back now
    assert rules.can_change_due(date(2026, 12, 20), **check)


# Lost, claims returned and found


def test_a_loan_closes_as_lost_or_claims_returned_unless_the_copy_is_withdrawn():
    assert rules.can_close_missing("lost", copy_status="in_stock")
    assert rules.can_close_missing("claims_returned", copy_status="in_stock")
    assert not rules.can_close_missing("stolen", copy_status="in_stock")
    assert not rules.can_close_missing("lost", copy_status="withdrawn")
    assert rules.is_found("lost") and not rules.is_found("in_stock")


@pytest.fixture
def library(database_path):
    """A real database: Ann (student), Bob (librarian), one title with copies B1 and B2."""
    conn = connect_sync(database_path)
    conn.execute("INSERT INTO Users (UserID, Name, Role, Email, CardNumber) VALUES "
                 "(1, 'Ann Lee', 'Student', 'ann@example.org', 'S1'), "
                 "(2, 'Bob Jones', 'Librarian', 'bob@example.org', 'L1')")  # fmt: skip
    conn.execute("INSERT INTO Books (BookID, Title) VALUES (1, 'Tidewater')")
    conn.execute("INSERT INTO Copies (CopyID, BookID, Barcode) VALUES (1, 1, 'B1'), (2, 1, 'B2')")
    yield conn
    conn.close()


def lend(conn, barcode="B1", actor=2, today=MONDAY, **kwargs):
    return loans.lend(conn, barcode=barcode, patron_id=1, actor_id=actor, today=today, **kwargs)


def test_renewing_on_the_day_of_lending_uses_up_no_renewal(library):
    outcome = lend(library)
    refused = loans.renew(library, loan_id=outcome.loan_id, actor_id=2, today=MONDAY)
    assert refused.action == "refused" and "Too soon to renew" in refused.message
    assert library.execute("SELECT Renewals FROM Loans").fetchone()[0] == 0
    later = loans.renew(library, loan_id=outcome.loan_id, actor_id=2, today=MONDAY + timedelta(10))
    assert later.action == "renewed"
    assert library.execute("SELECT Renewals FROM Loans").fetchone()[0] == 1


def test_a_lost_loan_is_closed_with_its_history_and_the_copy_comes_back_when_scanned(library):
    loan_id = lend(library).loan_id
    closed = loans.close_missing(
        library, loan_id=loan_id, closed_as="lost", actor_id=2, today=MONDAY
    )
    assert closed.action == "closed" and "Marked lost: Tidewater (B1)" in closed.message
    row = library.execute("SELECT * FROM Loans WHERE LoanID = ?", (loan_id,)).fetchone()
    assert row["ClosedAs"] == "lost" and row["ReturnedAt"] is not None
    assert row["LoanDate"] == MONDAY.isoformat() and row["UserID"] == 1
    assert library.execute("SELECT Status FROM Copies WHERE CopyID = 1").fetchone()[0] == "lost"
    (past,) = records.past_loans(library, 1, MONDAY)
    assert past.closed_as == "lost"
    # Closing it again: there is no open loan.
    again = loans.close_missing(
        library, loan_id=loan_id, closed_as="lost", actor_id=2, today=MONDAY
    )
    assert again.action == "not_found"

    found = loans.return_copy(library, barcode="B1", actor_id=2, today=MONDAY)
    assert found.action == "found"
    assert found.message.startswith("Found: Tidewater (B1) is back in stock.")
    assert library.execute("SELECT Status FROM Copies WHERE CopyID = 1").fetchone()[0] == "in_stock"
    kinds = [event.kind for event in events.events_for_patron(library, 1)]
    assert kinds[:2] == ["found", "lost"]


def test_a_lost_copy_scanned_to_lend_is_checked_in_not_lent(library):
    lend(library)
    library.execute("UPDATE Copies SET Status = 'lost' WHERE CopyID = 2")
    outcome = lend(library, barcode="B2")
    assert outcome.action == "found" and "Scan it again to lend it" in outcome.message
    assert library.execute("SELECT count(*) FROM Loans WHERE CopyID = 2").fetchone()[0] == 0
    assert lend(library, barcode="B2").action == "lent"


def test_a_copy_marked_lost_while_on_loan_is_back_in_stock_when_returned(library):
    lend(library)
    library.execute("UPDATE Copies SET Status = 'lost' WHERE CopyID = 1")
    outcome = loans.return_copy(library, barcode="B1", actor_id=2, today=MONDAY)
    assert outcome.action == "returned" and "back in stock" in outcome.message
    assert library.execute("SELECT Status FROM Copies WHERE CopyID = 1").fetchone()[0] == "in_stock"


def test_claims_returned_closes_the_loan_the_copy_is_missing_and_reminders_stop(library):
    long_ago = MONDAY - timedelta(days=30)
    loan_id = lend(library, today=long_ago).loan_id
    other = lend(library, barcode="B2", today=long_ago).loan_id
    stages = (-2, 1, 7, 21)
    planned = reminders.plan_tonight(library, stages, MONDAY)
    assert planned.flagged == 2 and planned.emails[0].overdue == 2

    loans.close_missing(
        library, loan_id=loan_id, closed_as="claims_returned", actor_id=2, today=MONDAY
    )
    loans.close_missing(library, loan_id=other, closed_as="lost", actor_id=2, today=MONDAY)

    planned = reminders.plan_tonight(library, stages, MONDAY)
    assert planned.flagged == 0 and planned.emails == []
    record = records.copy_record(library, "B1", MONDAY)
    assert record.status == "lost" and record.missing_as == "claims_returned"
    found = lend(library, barcode="B1")
    assert found.action == "found"
    detail = events.events_for_copy(library, 1)[0].detail
    assert detail == "was claims returned; back in stock"


def test_lend_anyway_past_the_limit_is_logged_with_the_reason(library):
    library.execute("UPDATE PatronCategories SET MaxLoans = 1 WHERE Name = 'Student'")
    lend(library)
    refused = lend(library, barcode="B2")
    assert refused.action == "refused" and refused.overridable == "B2"
    outcome = lend(library, barcode="B2", override_reason="class project")
    assert outcome.action == "lent" and "Override logged" in outcome.message
    (override,) = events.overrides_for_patron(library, 1)
    assert override.detail.startswith("lent past a rule (Ann Lee has 1 loans")
    assert override.detail.endswith("because: class project") and override.actor == "Bob Jones"


def test_a_student_actor_is_never_offered_or_granted_an_override(library):
    library.execute("UPDATE PatronCategories SET MaxLoans = 1 WHERE Name = 'Student'")
    lend(library)
    refused = lend(library, barcode="B2", actor=1)
    assert refused.action == "refused" and refused.overridable is None
    outcome = lend(library, barcode="B2", actor=1, override_reason="I want it")
    assert outcome.action == "refused" and "Only a librarian or an admin" in outcome.message
    assert library.execute("SELECT count(*) FROM Loans").fetchone()[0] == 1
    loan_id = library.execute("SELECT LoanID FROM Loans").fetchone()[0]
    due = loans.change_due_date(
        library, loan_id=loan_id, new_due=MONDAY + timedelta(30), reason="because",
        actor_id=1, today=MONDAY,
    )  # fmt: skip
    assert due.action == "refused"
    assert events.overrides_for_patron(library, 1) == []


def test_renew_anyway_and_a_due_date_change_are_logged(library):
    loan_id = lend(library).loan_id
    library.execute("UPDATE Loans SET Renewals = 2, ReturnDate = ? WHERE LoanID = ?",
                    ((MONDAY + timedelta(2)).isoformat(), loan_id))  # fmt: skip
    assert loans.renew(library, loan_id=loan_id, actor_id=2, today=MONDAY).action == "refused"
    renewed = loans.renew(
        library, loan_id=loan_id, actor_id=2, today=MONDAY, override_reason="ill in bed"
    )
    assert renewed.action == "renewed" and "Override logged" in renewed.message
    changed = loans.change_due_date(
        library, loan_id=loan_id, new_due=date(2027, 1, 8), reason="exam week", actor_id=2,
        today=MONDAY,
    )  # fmt: skip
    assert changed.action == "due_changed"
    assert library.execute("SELECT ReturnDate, Renewals FROM Loans").fetchone()[:] == (
        "2027-01-08",
        3,
    )
    details = [event.detail for event in events.overrides_for_patron(library, 1)]
    assert details[0] == "due date 2026-12-14 → 2027-01-08 because: exam week"
    assert details[1].startswith("renewed past a rule (Already renewed 2 times")
