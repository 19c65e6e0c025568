"""The rules matrix as pure functions (webapp/rules.py): which cell applies, due dates from
terms and closed days, and limits that hold under any sequence of lends, renewals and
returns. Examples first, then properties checked with hypothesis."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from webapp import rules

YEAR_8 = rules.Category(
    8, "Year 8", max_loans=4, max_holds=3, block_when_overdue=True, renew_overdue_days=0
)
TEACHER = rules.Category(
    11, "Teacher", max_loans=20, max_holds=20, block_when_overdue=False, renew_overdue_days=7
)
BOOK = rules.ItemType(1, "Book")
REFERENCE = rules.ItemType(2, "Reference")
DVD = rules.ItemType(4, "DVD")
LAPTOP = rules.ItemType(5, "Laptop")
CLASS_SET = rules.ItemType(6, "Class set")

EVERYONE = rules.Cell(None, None, loan_days=14, max_renewals=2)
MATRIX = [
    EVERYONE,
    rules.Cell(8, None, loan_days=21, max_renewals=1),
    rules.Cell(None, 2, loan_days=0, max_renewals=0, holds_allowed=False, not_for_loan=True),
    rules.Cell(None, 4, loan_days=7, max_renewals=1, max_of_type=2),
    rules.Cell(8, 5, loan_days=0, max_renewals=0, max_of_type=1, holds_allowed=False),
    rules.Cell(None, 6, loan_days=0, max_renewals=0, not_for_loan=True),
    rules.Cell(11, 6, loan_days=28, max_renewals=0, due_at_term_end=True),
]
OPEN = rules.Calendar()
MONDAY = date(2026, 11, 30)
AUTUMN = rules.Term("Autumn term", date(2026, 9, 2), date(2026, 12, 18))
SPRING = rules.Term("Spring term", date(2027, 1, 5), date(2027, 3, 26))


def test_the_cell_for_both_the_item_type_and_the_category_wins_and_says_so():
    rule = rules.resolve(MATRIX, YEAR_8, LAPTOP)
    assert rule.label == "Laptop, Year 8"
    due = rules.due_date(MONDAY, rule, OPEN)
    assert due.day == MONDAY
    assert due.explanation == "Laptop, Year 8: due today at the end of the day, no renewals"


def test_an_item_types_rule_outranks_a_categorys_and_everyones():
    rule = rules.resolve(MATRIX, YEAR_8, DVD)
    assert rule.describe() == "DVD: 7 days, 1 renewal"
    assert (rule.max_loans, rule.max_of_type) == (4, 2)  # the category's total, the type's limit
    assert rules.resolve(MATRIX, YEAR_8, BOOK).describe() == "Year 8: 21 days, 1 renewal"
    assert rules.resolve(MATRIX, TEACHER, BOOK).describe() == "Everyone: 14 days, 2 renewals"


def test_reference_is_not_for_loan_to_anyone_and_cannot_be_held():
    for category in (YEAR_8, TEACHER):
        rule = rules.resolve(MATRIX, category, REFERENCE)
        decision = rules.can_lend(standing(), rule, copy_status="in_stock")
        assert not decision and "Reference: not for loan" in decision.reason
        assert not rules.can_lend_anyway(standing(), rule, copy_status="in_stock")
        assert not rules.may_hold(rule)
    hold = rules.can_place_hold(
        patron_name="Ann",
        rule=rules.resolve(MATRIX, YEAR_8, BOOK),
        active_holds=0,
        title_rules=[rules.resolve(MATRIX, YEAR_8, REFERENCE)],
    )
    assert not hold and "Holds are not allowed" in hold.reason


def test_a_title_with_a_lendable_copy_may_be_held_beside_its_reference_copy():
    title_rules = [rules.resolve(MATRIX, YEAR_8, t) for t in (REFERENCE, BOOK)]
    rule = rules.resolve(MATRIX, YEAR_8, BOOK)
    assert rules.can_place_hold(
        patron_name="Ann", rule=rule, active_holds=0, title_rules=title_rules
    )


def test_the_limit_of_an_item_type_is_kept_apart_from_the_total():
    rule = rules.resolve(MATRIX, YEAR_8, DVD)
    decision = rules.can_lend(standing(open_loans=2, of_type=2), rule, copy_status="in_stock")
    assert not decision
    assert decision.reason == "Ann Lee has 2 DVD loans, the limit for DVD (2)."
    assert rules.can_lend(standing(open_loans=3, of_type=1), rule, copy_status="in_stock")
    assert rules.can_lend_anyway(standing(open_loans=2, of_type=2), rule, copy_status="in_stock")


def test_an_end_of_term_rule_is_due_on_the_last_day_of_the_current_term():
    rule = rules.resolve(MATRIX, TEACHER, CLASS_SET)
    calendar = rules.Calendar(terms=(AUTUMN, SPRING))
    due = rules.due_date(MONDAY, rule, calendar)
    assert due.day == date(2026, 12, 18)
    assert due.explanation == "Class set, Teacher: due at the end of Autumn term, no renewals"


def test_in_a_holiday_or_after_the_last_term_the_next_terms_end_applies():
    rule = rules.resolve(MATRIX, TEACHER, CLASS_SET)
    calendar = rules.Calendar(terms=(AUTUMN, SPRING))
    assert rules.due_date(date(2026, 12, 24), rule, calendar).day == date(2027, 3, 26)


def test_with_no_term_ahead_an_end_of_term_rule_uses_its_days_and_says_why():
    rule = rules.resolve(MATRIX, TEACHER, CLASS_SET)
    due = rules.due_date(date(2027, 4, 1), rule, rules.Calendar(terms=(AUTUMN, SPRING)))
    assert due.day == date(2027, 4, 29)
    assert "28 days, as no term dates are set from Thu 1 Apr 2027 on" in due.explanation


def test_a_term_that_ends_on_a_closed_day_moves_the_due_date_to_the_next_open_day():
    rule = rules.resolve(MATRIX, TEACHER, CLASS_SET)
    friday_closed = rules.Calendar(closed_days=frozenset({AUTUMN.ends_on}), terms=(AUTUMN,))
    due = rules.due_date(MONDAY, rule, friday_closed)
    assert due.day == date(2026, 12, 19)
    assert "moved from Fri 18 Dec because the library is closed" in due.explanation


def test_an_end_of_term_loan_cannot_be_renewed_to_the_same_day():
    rule = rules.resolve(MATRIX, TEACHER, CLASS_SET)
    calendar = rules.Calendar(terms=(AUTUMN,))
    due = rules.due_date(MONDAY, rule, calendar).day
    renewed = rules.renewed_due_date(MONDAY + timedelta(days=3), due, rule, calendar)
    assert not rules.renewal_moves_due(due, renewed)


def test_overlapping_terms_are_found():
    assert rules.terms_overlap([AUTUMN, SPRING]) is None
    clash = rules.Term("Clash", date(2026, 12, 1), date(2027, 1, 10))
    assert rules.terms_overlap([AUTUMN, SPRING, clash]) == (AUTUMN, clash)


def test_no_matching_cell_lends_nothing():
    rule = rules.resolve([], YEAR_8, BOOK)
    assert rule.not_for_loan and not rules.can_lend(standing(), rule, copy_status="in_stock")


def test_a_cell_is_parsed_from_the_editor_or_refused_with_reasons():
    cell, errors = rules.parse_cell(
        {"period": "term", "loan_days": "28", "max_renewals": "0", "max_of_type": "5"}, 11, 6
    )
    assert errors == {} and cell == rules.Cell(
        11,
        6,
        loan_days=28,
        max_renewals=0,
        due_at_term_end=True,
        max_of_type=5,
        holds_allowed=False,
    )
    cell, errors = rules.parse_cell(
        {"period": "weekly", "loan_days": "-1", "max_renewals": "x", "max_of_type": "1001"}, 8, 4
    )
    assert cell is None
    assert set(errors) == {"period", "loan_days", "max_renewals", "max_of_type"}
    assert "from 0 (due the same day) to 365" in errors["loan_days"]


def test_cells_are_described_in_the_matrixs_words():
    assert rules.describe_cell(MATRIX[3]) == "7 days, 1 renewal, at most 2"
    assert rules.describe_cell(MATRIX[2]) == "Not for loan"
    assert rules.describe_cell(MATRIX[4]) == (
        "Due today at the end of the day, no renewals, at most 1, no holds"
    )
    assert rules.describe_cell(MATRIX[6]) == "End of term (else 28 days), no renewals"


def standing(open_loans=0, of_type=0, overdue=0):
    return rules.PatronStanding(
        "Ann Lee", active=True, open_loans=open_loans, overdue_loans=overdue, open_of_type=of_type
    )


# Properties

CATEGORIES = [YEAR_8, TEACHER, rules.Category(13, "Visitor", 2, 0, True, 0)]
ITEM_TYPES = [BOOK, REFERENCE, DVD, LAPTOP, CLASS_SET]

cells = st.builds(
    rules.Cell,
    category_id=st.sampled_from([None, *(c.category_id for c in CATEGORIES)]),
    item_type_id=st.sampled_from([None, *(t.item_type_id for t in ITEM_TYPES)]),
    loan_days=st.integers(0, 365),
    max_renewals=st.integers(0, 5),
    due_at_term_end=st.booleans(),
    max_of_type=st.none() | st.integers(0, 4),
    holds_allowed=st.booleans(),
    not_for_loan=st.booleans(),
)
# A matrix holds at most one cell per (category, item type), as its unique index says.
matrices = st.lists(cells, max_size=30, unique_by=lambda cell: cell.key)


@given(matrices, st.sampled_from(CATEGORIES), st.sampled_from(ITEM_TYPES))
def test_the_most_specific_matching_cell_always_wins(matrix, category, item_type):
    won = rules.winning_cell(matrix, category.category_id, item_type.item_type_id)
    matching = [
        cell for cell in matrix if rules.matches(cell, category.category_id, item_type.item_type_id)
    ]
    if not matching:
        assert won == rules.NO_RULE
        return
    assert won in matching
    assert all(
        rules.specificity(won) > rules.specificity(other) for other in matching if other != won
    )
    exact = (category.category_id, item_type.item_type_id)
    if any(cell.key == exact for cell in matrix):
        assert won.key == exact
    rule = rules.resolve(matrix, category, item_type)
    assert (rule.loan_days, rule.max_renewals, rule.not_for_loan) == (
        won.loan_days,
        won.max_renewals,
        won.not_for_loan,
    )
    assert rule.max_loans == category.max_loans


@given(matrices, cells, st.sampled_from(CATEGORIES), st.sampled_from(ITEM_TYPES))
def test_adding_a_less_specific_cell_never_changes_the_winner(matrix, extra, category, item_type):
    won = rules.winning_cell(matrix, category.category_id, item_type.item_type_id)
    if won == rules.NO_RULE or any(cell.key == extra.key for cell in matrix):
        return
    if rules.specificity(extra) < rules.specificity(won):
        again = rules.winning_cell([*matrix, extra], category.category_id, item_type.item_type_id)
        assert again == won


closed_weekdays = st.frozensets(st.integers(0, 6), max_size=6)
days = st.dates(date(2026, 1, 1), date(2028, 12, 31))


@st.composite
def term_lists(draw):
    """Terms in order that do not overlap, as the rules page keeps them."""
    start = draw(days)
    terms = []
    for number in range(draw(st.integers(0, 4))):
        start += timedelta(days=draw(st.integers(0, 60)))
        end = start + timedelta(days=draw(st.integers(0, 120)))
        terms.append(rules.Term(f"Term {number + 1}", start, end))
        start = end + timedelta(days=1)
    return tuple(terms)


@settings(max_examples=300)
@given(
    cells,
    days,
    closed_weekdays,
    st.frozensets(days, max_size=40),
    term_lists(),
)
def test_a_due_date_never_lies_on_a_closed_day_nor_before_the_loan(
    cell, start, weekdays, closed, terms
):
    calendar = rules.Calendar(closed_days=closed, closed_weekdays=weekdays, terms=terms)
    rule = rules.resolve([cell], YEAR_8, BOOK)
    due = rules.due_date(start, rule, calendar)
    assert calendar.is_open(due.day)
    assert due.day >= start
    term = rules.term_end(start, terms)
    if rule.due_at_term_end and not rule.not_for_loan and term is not None:
        assert due.day >= term.ends_on and term.name in due.explanation


# A sequence of desk actions for one patron: lend a copy of an item type, renew or return
# one of their loans (by position), or let some days pass.
actions = st.lists(
    st.one_of(
        st.tuples(st.just("lend"), st.sampled_from(ITEM_TYPES)),
        st.tuples(st.just("renew"), st.integers(0, 30)),
        st.tuples(st.just("return"), st.integers(0, 30)),
        st.tuples(st.just("wait"), st.integers(0, 20)),
    ),
    max_size=60,
)


@settings(max_examples=200)
@given(matrices, st.sampled_from(CATEGORIES), actions, closed_weekdays)
def test_limits_are_never_exceeded_under_any_sequence_of_lends_and_renewals(
    matrix, category, steps, weekdays
):
    calendar = rules.Calendar(closed_weekdays=weekdays)
    today = MONDAY
    loans: list[dict] = []  # each: item type, due, renewals

    for action, argument in steps:
        if action == "wait":
            today += timedelta(days=argument)
        elif action == "lend":
            rule = rules.resolve(matrix, category, argument)
            overdue = sum(loan["due"] < today for loan in loans)
            of_type = sum(loan["type"] == argument for loan in loans)
            patron = rules.PatronStanding(
                "Ann",
                active=True,
                open_loans=len(loans),
                overdue_loans=overdue,
                open_of_type=of_type,
            )
            if rules.can_lend(patron, rule, copy_status="in_stock"):
                due = rules.due_date(today, rule, calendar).day
                loans.append({"type": argument, "due": due, "renewals": 0})
        elif loans:
            loan = loans[argument % len(loans)]
            if action == "return":
                loans.remove(loan)
                continue
            rule = rules.resolve(matrix, category, loan["type"])
            decision = rules.can_renew(
                rule=rule,
                renewals=loan["renewals"],
                due=loan["due"],
                today=today,
                held_by_another=False,
            )
            renewed = rules.renewed_due_date(today, loan["due"], rule, calendar)
            if decision and rules.renewal_moves_due(loan["due"], renewed):
                loan["due"], loan["renewals"] = renewed.day, loan["renewals"] + 1

        assert len(loans) <= category.max_loans
        for loan in loans:
            rule = rules.resolve(matrix, category, loan["type"])
            assert not rule.not_for_loan
            assert loan["renewals"] <= rule.max_renewals
            assert calendar.is_open(loan["due"])
            if rule.max_of_type is not None:
                assert sum(other["type"] == loan["type"] for other in loans) <= rule.max_of_type
