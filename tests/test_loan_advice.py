"""What My account and the reminder email say a patron may do about a loan, decided by the
same rule functions as the server's renewal (webapp.loan_advice), without a server."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from webapp import loan_advice, rules

from .test_rules import LIBRARIAN, OPEN_EVERY_DAY, STUDENT

TODAY = date(2026, 11, 30)


def advice(rule=STUDENT, renewals=0, due=TODAY + timedelta(days=5), held=False, calendar=None):
    return loan_advice.renewal_advice(
        rule=rule,
        renewals=renewals,
        due=due,
        today=TODAY,
        held_by_another=held,
        calendar=calendar or OPEN_EVERY_DAY,
    )


def test_a_loan_the_rules_let_the_patron_renew_is_renewable():
    answer = advice()
    assert answer.renewable and answer.why_not == ""
    assert answer.advice == "You can renew it online: sign in and choose Renew."


@pytest.mark.parametrize(
    ("renewals", "words"), [(1, "once"), (2, "twice"), (3, "3 times")], ids=["1", "2", "3"]
)
def test_renewals_used_up_say_how_many(renewals, words):
    rule = replace(STUDENT, max_renewals=renewals)
    answer = advice(rule=rule, renewals=renewals)
    assert not answer.renewable
    assert answer.why_not == f"Already renewed {words}"
    assert answer.advice == (
        f"It has already been renewed {words}, the most allowed: please bring it back."
    )


def test_an_overdue_loan_past_the_rules_grace_must_come_back():
    answer = advice(due=TODAY - timedelta(days=1))
    assert (answer.renewable, answer.why_not) == (False, "Overdue: bring it back")
    assert "please bring it back" in answer.advice
    # Overdue and renewed to the limit: being overdue is what the patron must act on.
    assert advice(due=TODAY - timedelta(days=1), renewals=2).why_not == "Overdue: bring it back"


def test_within_the_rules_grace_an_overdue_loan_may_still_be_renewed():
    assert advice(rule=LIBRARIAN, due=TODAY - timedelta(days=7)).renewable
    assert advice(rule=LIBRARIAN, due=TODAY - timedelta(days=8)).why_not == (
        "Overdue: bring it back"
    )


def test_a_title_someone_else_waits_for_cannot_be_renewed():
    answer = advice(held=True)
    assert (answer.renewable, answer.why_not) == (False, "Someone is waiting for it: bring it back")


def test_too_soon_says_from_which_day_a_renewal_moves_the_date():
    # Lent today for 14 days: renewing today would not move the due date.
    answer = advice(due=TODAY + timedelta(days=14))
    assert not answer.renewable
    assert answer.why_not == "Renew from Tue 1 Dec"
    # Had it been renewed on Tuesday, the due date would move: that is the first day.
    assert loan_advice.first_useful_renewal(
        due=TODAY + timedelta(days=14), today=TODAY, rule=STUDENT, calendar=OPEN_EVERY_DAY
    ) == TODAY + timedelta(days=1)


@pytest.mark.parametrize(
    ("renewals", "due_in", "held"),
    [(0, 5, False), (2, 5, False), (0, -1, False), (0, 5, True), (0, 14, False), (1, -3, True)],
)
def test_the_advice_agrees_with_the_servers_renewal_decision(renewals, due_in, held):
    due = TODAY + timedelta(days=due_in)
    decision = rules.can_renew(
        rule=STUDENT, renewals=renewals, due=due, today=TODAY, held_by_another=held
    )
    moves = rules.renewal_moves_due(
        due, rules.renewed_due_date(TODAY, due, STUDENT, OPEN_EVERY_DAY)
    )
    assert advice(renewals=renewals, due=due, held=held).renewable == bool(decision and moves)
