"""The circulation rules as pure functions: due dates, closed days, lend and renew decisions."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from webapp import rules

STUDENT = rules.LoanRule(
    "Student",
    loan_days=14,
    max_loans=5,
    max_renewals=2,
    block_when_overdue=True,
    renew_overdue_days=0,
    max_holds=5,
)
LIBRARIAN = rules.LoanRule(
    "Librarian",
    loan_days=28,
    max_loans=20,
    max_renewals=3,
    block_when_overdue=False,
    renew_overdue_days=7,
    max_holds=20,
)
OPEN_EVERY_DAY = rules.Calendar()
MONDAY = date(2026, 11, 30)


def standing(open_loans=0, overdue=0, active=True):
    return rules.PatronStanding(
        "Ann Lee", active=active, open_loans=open_loans, overdue_loans=overdue
    )


def test_the_due_date_is_the_loan_date_plus_the_rules_period():
    due = rules.due_date(MONDAY, STUDENT, OPEN_EVERY_DAY)
    assert due.day == date(2026, 12, 14)
    assert due.explanation == "Student: 14 days, 2 renewals"
    assert rules.due_date(MONDAY, LIBRARIAN, OPEN_EVERY_DAY).day == date(2026, 12, 28)


def test_a_due_date_on_a_closed_weekday_moves_to_the_next_open_day_and_says_why():
    closed_weekends = rules.Calendar(closed_weekdays=frozenset({5, 6}))
    saturday = date(2026, 11, 28)
    due = rules.due_date(saturday, STUDENT, closed_weekends)
    assert due.day == date(2026, 12, 14)  # 12 Dec is a Saturday: moved to Monday 14 Dec
    assert "moved from Sat 12 Dec" in due.explanation


def test_closed_days_and_weekdays_combine():
    calendar = rules.Calendar(
        closed_days=frozenset({date(2026, 12, 14), date(2026, 12, 15)}),
        closed_weekdays=frozenset({2}),  # Wednesdays
    )
    assert rules.due_date(MONDAY, STUDENT, calendar).day == date(2026, 12, 17)


def test_a_calendar_with_no_open_day_gives_up_instead_of_looping():
    always_closed = rules.Calendar(closed_weekdays=frozenset(range(7)))
    assert rules.due_date(MONDAY, STUDENT, always_closed).day == date(2026, 12, 14)


def test_due_today_is_not_overdue_and_yesterday_is_one_day_late():
    assert rules.days_overdue(MONDAY, MONDAY) == 0
    assert rules.days_overdue(date(2026, 11, 29), MONDAY) == 1
    assert rules.days_overdue(date(2026, 12, 1), MONDAY) == 0


def test_a_patron_in_good_standing_may_borrow():
    assert rules.can_lend(standing(), STUDENT, copy_status="in_stock")


def test_each_lend_refusal_gives_its_reason():
    cases = [
        (standing(active=False), "in_stock", None, "inactive"),
        (standing(), "withdrawn", None, "withdrawn"),
        (standing(), "lost", None, "lost"),
        (standing(), "in_stock", "Ben Okafor", "set aside for Ben Okafor"),
        (standing(open_loans=5), "in_stock", None, "limit for Student (5)"),
        (standing(overdue=1), "in_stock", None, "1 overdue item"),
    ]
    for patron, copy_status, set_aside_for, reason in cases:
        decision = rules.can_lend(
            patron, STUDENT, copy_status=copy_status, set_aside_for=set_aside_for
        )
        assert not decision and reason in decision.reason, (patron, copy_status)


def test_overdue_items_block_only_when_the_rule_says_so():
    assert rules.can_lend(standing(overdue=3), LIBRARIAN, copy_status="in_stock")


def test_loans_left_counts_down_to_zero():
    assert rules.loans_left(STUDENT, open_loans=3) == 2
    assert rules.loans_left(STUDENT, open_loans=9) == 0


def test_renewal_refusals_and_permissions():
    due = date(2026, 12, 1)
    assert rules.can_renew(rule=STUDENT, renewals=1, due=due, today=MONDAY, held_by_another=False)
    used_up = rules.can_renew(
        rule=STUDENT, renewals=2, due=due, today=MONDAY, held_by_another=False
    )
    assert not used_up and "Already renewed 2 times" in used_up.reason
    late = rules.can_renew(
        rule=STUDENT, renewals=0, due=date(2026, 11, 27), today=MONDAY, held_by_another=False
    )
    assert not late and "3 days overdue" in late.reason
    held = rules.can_renew(rule=STUDENT, renewals=0, due=due, today=MONDAY, held_by_another=True)
    assert not held and "waiting for this title" in held.reason


def test_a_librarian_may_renew_up_to_the_rules_days_overdue():
    assert rules.can_renew(
        rule=LIBRARIAN, renewals=0, due=date(2026, 11, 23), today=MONDAY, held_by_another=False
    )
    too_late = rules.can_renew(
        rule=LIBRARIAN, renewals=0, due=date(2026, 11, 22), today=MONDAY, held_by_another=False
    )
    assert not too_late and "up to 7 days overdue" in too_late.reason


def test_a_renewal_runs_from_today_and_never_shortens_the_loan():
    assert rules.renewed_due_date(MONDAY, date(2026, 12, 1), STUDENT, OPEN_EVERY_DAY).day == date(
        2026, 12, 14
    )
    long_loan = rules.renewed_due_date(MONDAY, date(2027, 1, 5), STUDENT, OPEN_EVERY_DAY)
    assert long_loan.day == date(2027, 1, 5)


def test_pickup_deadline_skips_closed_days():
    calendar = rules.Calendar(closed_days=frozenset({date(2026, 12, 7)}))
    assert rules.pickup_deadline(MONDAY, 7, calendar) == date(2026, 12, 8)


def test_closed_weekdays_round_trip_and_ignore_junk():
    assert rules.parse_closed_weekdays("5, 6,x,9,,6") == frozenset({5, 6})
    assert rules.format_closed_weekdays({6, 0}) == "0,6"
    assert rules.parse_closed_weekdays("") == frozenset()


def test_a_patron_under_the_hold_limit_may_place_a_hold():
    assert rules.can_place_hold(patron_name="Alice Smith", rule=STUDENT, active_holds=4)
    assert rules.can_place_hold(patron_name="Alice Smith", rule=STUDENT, active_holds=0)


def test_a_patron_at_the_hold_limit_is_told_how_many_they_have_and_the_limit():
    decision = rules.can_place_hold(patron_name="Alice Smith", rule=STUDENT, active_holds=5)
    assert not decision
    assert decision.reason == "Alice Smith already has 5 holds, the most Student patrons may place."
    assert rules.can_place_hold(patron_name="Bob Johnson", rule=LIBRARIAN, active_holds=5)
    assert not rules.can_place_hold(patron_name="Bob Johnson", rule=LIBRARIAN, active_holds=20)


def test_a_role_allowed_no_holds_is_told_so():
    no_holds = replace(STUDENT, max_holds=0)
    decision = rules.can_place_hold(patron_name="Alice Smith", rule=no_holds, active_holds=0)
    assert not decision
    assert decision.reason == "Student patrons may not place holds."
