"""Circulation rules as pure functions: due dates, and whether a lend or renewal may happen.

Nothing here touches the database or the clock: the models load the rules, the
calendar and the patron's standing, call these functions, and act on the answer.
That keeps every decision the desk makes testable in a line (tests/test_rules.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta

# Every account has one of these roles: what they may do in the app. How they
# borrow is their patron category's (Categories below), which is separate.
ROLES = ("Student", "Librarian", "Admin")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class LoanRule:
    """The rule that applies to one patron borrowing one item type: the matrix cell that
    won (``resolve``) together with the patron category's own limits.

    ``label`` names the cell as the desk shows it ("Laptop, Year 8", "DVD", "Year 8",
    "Everyone"); ``max_loans`` is the category's total, ``max_of_type`` the cell's
    limit on loans of this item type (None: only the total counts).
    """

    label: str
    loan_days: int
    max_loans: int
    max_renewals: int
    block_when_overdue: bool
    renew_overdue_days: int
    max_holds: int
    category: str = ""
    item_type: str = ""
    due_at_term_end: bool = False
    max_of_type: int | None = None
    holds_allowed: bool = True
    not_for_loan: bool = False

    @property
    def who(self) -> str:
        """The patron category, in refusals ("the limit for Year 8")."""
        return self.category or self.label

    def period(self) -> str:
        """The loan period in words: "7 days", "due today at the end of the day", "end of term"."""
        if self.not_for_loan:
            return "not for loan"
        if self.due_at_term_end:
            return "due at the end of term"
        if self.loan_days == 0:
            return "due today at the end of the day"
        return f"{self.loan_days} day{'s' if self.loan_days != 1 else ''}"

    def describe(self, period: str | None = None) -> str:
        """How the desk names the rule that gave a due date: "DVD: 7 days, 1 renewal"
        (``period`` says it more exactly, e.g. which term's end)."""
        if self.not_for_loan:
            return f"{self.label}: not for loan"
        renewals = {0: "no renewals", 1: "1 renewal"}.get(
            self.max_renewals, f"{self.max_renewals} renewals"
        )
        return f"{self.label}: {period or self.period()}, {renewals}"


@dataclass(frozen=True)
class Term:
    """A school term: loans under an end-of-term rule are due on its last day."""

    name: str
    starts_on: date
    ends_on: date


def term_end(day: date, terms: Iterable[Term]) -> Term | None:
    """The term whose end a loan made on ``day`` is due at: the term ``day`` lies in, or
    in a holiday (or after the last term of a year) the next term to start; None when
    no term is known from ``day`` on."""
    current = [term for term in terms if term.starts_on <= day <= term.ends_on]
    if current:
        return min(current, key=lambda term: term.ends_on)
    later = [term for term in terms if term.starts_on > day]
    return min(later, key=lambda term: term.starts_on) if later else None


def terms_overlap(terms: Iterable[Term]) -> tuple[Term, Term] | None:
    """Two terms that share a day, if any: the rules page refuses to save such a term."""
    ordered = sorted(terms, key=lambda term: term.starts_on)
    for earlier, later in zip(ordered, ordered[1:], strict=False):
        if later.starts_on <= earlier.ends_on:
            return earlier, later
    return None


@dataclass(frozen=True)
class Calendar:
    """The days the library is shut (single dates and whole weekdays, 0 = Monday), and the
    school's terms, which end-of-term due dates are taken from."""

    closed_days: frozenset[date] = frozenset()
    closed_weekdays: frozenset[int] = frozenset()
    terms: tuple[Term, ...] = ()

    def is_open(self, day: date) -> bool:
        return day not in self.closed_days and day.weekday() not in self.closed_weekdays

    def next_open_day(self, day: date) -> date:
        """``day`` itself when the library is open then, else the first open day after it.

        A calendar closed every weekday has no open day; the rules page refuses to
        save one, and here the search gives up after a year rather than loop forever.
        """
        candidate = day
        for _ in range(366):
            if self.is_open(candidate):
                return candidate
            candidate += timedelta(days=1)
        return day


@dataclass(frozen=True)
class DueDate:
    day: date
    explanation: str


def due_date(start: date, rule: LoanRule, calendar: Calendar) -> DueDate:
    """When a loan made on ``start`` under ``rule`` is due, moved forward off closed days.

    An end-of-term rule gives the end of the term ``start`` lies in (in a holiday, the
    next term's); with no term dates known from ``start`` on, its loan period applies.
    A loan period of 0 days is due the same day, at the end of the day.
    """
    term = term_end(start, calendar.terms) if rule.due_at_term_end else None
    if term is not None:
        natural = term.ends_on
        explanation = rule.describe(f"due at the end of {term.name}")
    else:
        natural = start + timedelta(days=rule.loan_days)
        fallback = f"{rule.loan_days} days, as no term dates are set from {_day(start)} on"
        explanation = rule.describe(fallback if rule.due_at_term_end else None)
    day = calendar.next_open_day(natural)
    if day != natural:
        explanation += f", moved from {natural:%a %d %b} because the library is closed"
    return DueDate(day, explanation)


def renewed_due_date(today: date, current_due: date, rule: LoanRule, calendar: Calendar) -> DueDate:
    """A renewal runs a full loan period from today, and never shortens a loan."""
    renewed = due_date(today, rule, calendar)
    if renewed.day <= current_due:
        return DueDate(current_due, f"{rule.describe()}; the loan already runs to then")
    return renewed


def days_overdue(due: date, today: date) -> int:
    """How many days late a loan due on ``due`` is on ``today`` (due today is not late)."""
    return max(0, (today - due).days)


@dataclass(frozen=True)
class Decision:
    """Yes, or no with the reason the desk shows."""

    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = Decision(True)


@dataclass(frozen=True)
class PatronStanding:
    """A patron's loans as the limits count them; ``open_of_type`` counts only the open
    loans of the item type about to be lent."""

    name: str
    active: bool
    open_loans: int
    overdue_loans: int
    open_of_type: int = 0


def loans_left(rule: LoanRule, open_loans: int) -> int:
    """How many more loans the rule allows a patron with ``open_loans`` (never below 0)."""
    return max(0, rule.max_loans - open_loans)


def can_lend(
    standing: PatronStanding,
    rule: LoanRule,
    *,
    copy_status: str,
    set_aside_for: str | None = None,
) -> Decision:
    """Whether this patron may take this copy now.

    ``set_aside_for`` names another patron whose ready hold has this copy on
    the hold shelf. Whether the copy is already on loan is not decided here:
    the database's unique index answers that, race-free.
    """
    if not standing.active:
        return Decision(
            False, f"{standing.name}'s account is inactive: no loans until it is reactivated."
        )
    if copy_status == "withdrawn":
        return Decision(False, "This copy has been withdrawn and cannot be lent.")
    if copy_status == "lost":
        return Decision(
            False, "This copy is recorded as lost: check it in with a librarian before lending."
        )
    if rule.not_for_loan:
        return Decision(False, f"{rule.label}: not for loan. It stays in the library.")
    if set_aside_for is not None:
        return Decision(False, f"This copy is set aside for {set_aside_for}'s hold.")
    if standing.open_loans >= rule.max_loans:
        return Decision(
            False,
            f"{standing.name} has {standing.open_loans} loans, the limit for {rule.who} "
            f"({rule.max_loans}).",
        )
    if rule.max_of_type is not None and standing.open_of_type >= rule.max_of_type:
        return Decision(
            False,
            f"{standing.name} has {standing.open_of_type} {rule.item_type or 'item'} loans, "
            f"the limit for {rule.label} ({rule.max_of_type}).",
        )
    if rule.block_when_overdue and standing.overdue_loans:
        items = "item: it" if standing.overdue_loans == 1 else "items: they"
        return Decision(
            False,
            f"{standing.name} has {standing.overdue_loans} overdue {items} must come back "
            "before new loans.",
        )
    return ALLOWED


def can_renew(
    *,
    rule: LoanRule,
    renewals: int,
    due: date,
    today: date,
    held_by_another: bool,
) -> Decision:
    """Whether an open loan may be renewed today."""
    if rule.not_for_loan:
        return Decision(False, f"{rule.label}: not for loan, so it cannot be renewed.")
    if renewals >= rule.max_renewals:
        return Decision(
            False,
            f"Already renewed {renewals} times, the most {rule.label} allows "
            f"({rule.max_renewals}).",
        )
    late = days_overdue(due, today)
    if late > rule.renew_overdue_days:
        if rule.renew_overdue_days == 0:
            return Decision(
                False, f"This loan is {late} days overdue: overdue loans cannot be renewed."
            )
        return Decision(
            False,
            f"This loan is {late} days overdue; {rule.who} patrons may renew up to "
            f"{rule.renew_overdue_days} days overdue.",
        )
    if held_by_another:
        return Decision(False, "Another patron is waiting for this title, so it cannot be renewed.")
    return ALLOWED


def can_place_hold(
    *,
    patron_name: str,
    rule: LoanRule,
    active_holds: int,
    title_rules: Iterable[LoanRule] = (),
) -> Decision:
    """Whether a patron with ``active_holds`` holds (waiting or ready) may place one more.

    ``title_rules`` are the patron's rules for the item types of the title's copies: a
    hold is allowed when at least one of them may be lent and held (a title held only as
    Reference copies cannot be held). ``rule`` gives the category's hold limit.
    """
    if rule.max_holds == 0:
        return Decision(False, f"{rule.who} patrons may not place holds.")
    if active_holds >= rule.max_holds:
        holds = "hold" if active_holds == 1 else "holds"
        return Decision(
            False,
            f"{patron_name} already has {active_holds} {holds}, "
            f"the most {rule.who} patrons may place.",
        )
    title_rules = list(title_rules)
    if title_rules and not any(may_hold(each) for each in title_rules):
        return Decision(False, f"Holds are not allowed here ({title_rules[0].describe()}).")
    return ALLOWED


def may_hold(rule: LoanRule) -> bool:
    """Whether a copy lent under ``rule`` may be held (and set aside for a hold)."""
    return rule.holds_allowed and not rule.not_for_loan


def renewal_moves_due(current_due: date, renewed: DueDate) -> Decision:
    """A renewal must push the due date later: one that moves nothing (renewing on the
    day of borrowing, say) would use up a renewal for nothing, so it is refused."""
    if renewed.day <= current_due:
        return Decision(False, f"Too soon to renew: it is already due {_day(current_due)}.")
    return ALLOWED


def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


# Staff may set a rule aside for one patron, giving a reason that the event log keeps.
MIN_REASON_LENGTH = 3
MAX_REASON_LENGTH = 500
OVERRIDING_ROLES = ("Librarian", "Admin")


def override_reason(raw: str | None) -> str:
    """The reason for an override, trimmed to one line of text; ValueError says what is wrong."""
    text = " ".join((raw or "").split())
    if len(text) < MIN_REASON_LENGTH:
        raise ValueError(
            f"Give a reason for the override ({MIN_REASON_LENGTH} to {MAX_REASON_LENGTH} "
            "characters)."
        )
    if len(text) > MAX_REASON_LENGTH:
        raise ValueError(f"Keep the reason to {MAX_REASON_LENGTH} characters.")
    return text


def may_override(actor_role: str | None) -> Decision:
    """Only staff set rules aside; a student never does, whatever the route."""
    if actor_role not in OVERRIDING_ROLES:
        return Decision(False, "Only a librarian or an admin may override the rules.")
    return ALLOWED


def can_lend_anyway(
    standing: PatronStanding,
    rule: LoanRule,
    *,
    copy_status: str,
    set_aside_for: str | None = None,
) -> Decision:
    """Whether staff may lend past a refusal; allowed with the rule set aside as ``reason``.

    Only the loan limits (in all and of the item type) and the overdue block may be
    set aside: an inactive account, a withdrawn or lost copy, an item not for loan,
    or a copy kept for someone else's hold is refused as ever. Allowed with an empty
    reason when there is nothing to set aside.
    """
    relaxed = replace(
        rule,
        max_loans=max(rule.max_loans, standing.open_loans + 1),
        max_of_type=None,
        block_when_overdue=False,
    )
    hard = can_lend(standing, relaxed, copy_status=copy_status, set_aside_for=set_aside_for)
    if not hard:
        return Decision(False, f"{hard.reason} That cannot be overridden.")
    return Decision(
        True, can_lend(standing, rule, copy_status=copy_status, set_aside_for=set_aside_for).reason
    )


def can_renew_anyway(
    *,
    rule: LoanRule,
    renewals: int,
    due: date,
    today: date,
    held_by_another: bool,
) -> Decision:
    """Whether staff may renew past the renewal limit; allowed with the rule set aside as
    ``reason``. An overdue loan past the rule's grace, or a title someone else waits for,
    is refused as ever."""
    relaxed = replace(rule, max_renewals=max(rule.max_renewals, renewals + 1))

    def under(some_rule: LoanRule) -> Decision:
        return can_renew(
            rule=some_rule,
            renewals=renewals,
            due=due,
            today=today,
            held_by_another=held_by_another,
        )

    hard = under(relaxed)
    if not hard:
        return Decision(False, f"{hard.reason} That cannot be overridden.")
    return Decision(True, under(rule).reason)


# How far ahead staff may set a due date by hand.
MAX_DUE_DAYS_AHEAD = 365


def can_change_due(
    new_due: date, *, current_due: date, today: date, calendar: Calendar
) -> Decision:
    """Whether a loan's due date may be set by hand to ``new_due``.

    Not in the past, not more than a year ahead, not the date it already has,
    and not a day the library is closed (the refusal names the next open day,
    rather than moving the date silently to one the librarian did not choose).
    """
    if new_due < today:
        return Decision(False, f"{_day(new_due)} is in the past: choose today or later.")
    if new_due > today + timedelta(days=MAX_DUE_DAYS_AHEAD):
        return Decision(False, f"Choose a due date at most {MAX_DUE_DAYS_AHEAD} days ahead.")
    if new_due == current_due:
        return Decision(False, f"It is already due {_day(current_due)}.")
    if not calendar.is_open(new_due):
        return Decision(
            False,
            f"The library is closed on {_day(new_due)}: choose an open day, such as "
            f"{_day(calendar.next_open_day(new_due))}.",
        )
    return ALLOWED


# How a loan may end without the copy coming back (Loans.ClosedAs), in the desk's words.
MISSING_CLOSINGS = {"lost": "lost", "claims_returned": "claims returned"}


def can_close_missing(closed_as: str, *, copy_status: str) -> Decision:
    """Whether an open loan may be closed as lost or claims returned; the copy becomes lost."""
    if closed_as not in MISSING_CLOSINGS:
        return Decision(False, "Choose lost or claims returned.")
    if copy_status == "withdrawn":
        return Decision(False, "This copy is withdrawn: return it or withdraw it by hand.")
    return ALLOWED


def is_found(copy_status: str) -> bool:
    """A copy recorded as lost (or claimed returned) that is scanned at the desk has turned
    up: it is checked back in and returns to stock, whatever the desk was about to do."""
    return copy_status == "lost"


def parse_closed_weekdays(raw: str) -> frozenset[int]:
    """LibrarySettings.closed_weekdays: comma-separated weekday numbers, 0 = Monday."""
    days = set()
    for part in raw.split(","):
        part = part.strip()
        if part.isdigit() and int(part) < 7:
            days.add(int(part))
    return frozenset(days)


def format_closed_weekdays(days: frozenset[int] | set[int]) -> str:
    return ",".join(str(day) for day in sorted(days))


def pickup_deadline(today: date, pickup_days: int, calendar: Calendar) -> date:
    """Last day a ready hold may be collected: ``pickup_days`` on, moved off closed days."""
    return calendar.next_open_day(today + timedelta(days=pickup_days))


# The rules matrix: patron category × item type → a cell. A cell's category or item
# type may be None, "any"; the most specific cell that matches wins (``resolve``).


@dataclass(frozen=True)
class Category:
    """A patron category (PatronCategories): how its patrons borrow, whatever the item."""

    category_id: int
    name: str
    max_loans: int
    max_holds: int
    block_when_overdue: bool
    renew_overdue_days: int


@dataclass(frozen=True)
class ItemType:
    item_type_id: int
    name: str


@dataclass(frozen=True)
class Cell:
    """One rule of the matrix (CirculationRules); None for "any" category or item type."""

    category_id: int | None
    item_type_id: int | None
    loan_days: int
    max_renewals: int
    due_at_term_end: bool = False
    max_of_type: int | None = None
    holds_allowed: bool = True
    not_for_loan: bool = False

    @property
    def key(self) -> tuple[int | None, int | None]:
        return (self.category_id, self.item_type_id)


# A library whose matrix lost its "any × any" cell (the schema keeps it) lends nothing
# it has no rule for, rather than guess.
NO_RULE = Cell(None, None, loan_days=0, max_renewals=0, holds_allowed=False, not_for_loan=True)


def specificity(cell: Cell) -> int:
    """How specific a cell is: both named 3, an item type 2, a category 1, "any × any" 0.

    The item type outranks the category: "DVD: 7 days" holds for every category that
    has no DVD cell of its own, and "Reference: not for loan" cannot be undone by a
    category's general rule.
    """
    return 2 * (cell.item_type_id is not None) + (cell.category_id is not None)


def matches(cell: Cell, category_id: int, item_type_id: int) -> bool:
    return cell.category_id in (None, category_id) and cell.item_type_id in (None, item_type_id)


def winning_cell(cells: Iterable[Cell], category_id: int, item_type_id: int) -> Cell:
    """The most specific cell that matches this category and item type (``NO_RULE`` if none)."""
    best = NO_RULE
    best_rank = -1
    for cell in cells:
        if matches(cell, category_id, item_type_id) and specificity(cell) > best_rank:
            best, best_rank = cell, specificity(cell)
    return best


def cell_label(cell: Cell, category: Category, item_type: ItemType) -> str:
    """How the desk names the cell that applied: "Laptop, Year 8", "DVD", "Year 8", "Everyone"."""
    parts = []
    if cell.item_type_id is not None:
        parts.append(item_type.name)
    if cell.category_id is not None:
        parts.append(category.name)
    return ", ".join(parts) or "Everyone"


def resolve(cells: Iterable[Cell], category: Category, item_type: ItemType) -> LoanRule:
    """The rule for a patron of ``category`` borrowing an item of ``item_type``."""
    cell = winning_cell(cells, category.category_id, item_type.item_type_id)
    return LoanRule(
        label=cell_label(cell, category, item_type),
        loan_days=cell.loan_days,
        max_loans=category.max_loans,
        max_renewals=cell.max_renewals,
        block_when_overdue=category.block_when_overdue,
        renew_overdue_days=category.renew_overdue_days,
        max_holds=category.max_holds,
        category=category.name,
        item_type=item_type.name,
        due_at_term_end=cell.due_at_term_end,
        max_of_type=cell.max_of_type,
        holds_allowed=cell.holds_allowed,
        not_for_loan=cell.not_for_loan,
    )


# The bounds of a cell's numbers, as the schema's CHECK constraints have them.
LOAN_DAYS_RANGE = (0, 365)
RENEWALS_RANGE = (0, 100)
MAX_OF_TYPE_RANGE = (0, 1000)


def whole_number(raw: str | None, lowest: int, highest: int) -> int | None:
    text = (raw or "").strip()
    if not text.isdecimal() or len(text) > 4:
        return None
    value = int(text)
    return value if lowest <= value <= highest else None


def parse_cell(
    form: Mapping[str, str], category_id: int | None, item_type_id: int | None
) -> tuple[Cell | None, dict[str, str]]:
    """A matrix cell from the editor's fields, or None with a reason per field.

    Fields: ``period`` ("days", "term" or "not_for_loan"), ``loan_days``,
    ``max_renewals``, ``max_of_type`` (blank: no limit of its own) and ``holds``
    ("on" allows holds). An end-of-term cell keeps a loan period for when no
    term dates are known.
    """
    errors: dict[str, str] = {}
    period = (form.get("period") or "days").strip()
    if period not in ("days", "term", "not_for_loan"):
        errors["period"] = "Choose a loan period in days, the end of term, or not for loan."
    loan_days = whole_number(form.get("loan_days"), *LOAN_DAYS_RANGE)
    if loan_days is None:
        errors["loan_days"] = (
            f"Loan period: a whole number of days from {LOAN_DAYS_RANGE[0]} (due the same day) "
            f"to {LOAN_DAYS_RANGE[1]}."
        )
    renewals = whole_number(form.get("max_renewals"), *RENEWALS_RANGE)
    if renewals is None:
        errors["max_renewals"] = (
            f"Renewals: a whole number from {RENEWALS_RANGE[0]} to {RENEWALS_RANGE[1]}."
        )
    raw_max = (form.get("max_of_type") or "").strip()
    max_of_type = whole_number(raw_max, *MAX_OF_TYPE_RANGE) if raw_max else None
    if raw_max and max_of_type is None:
        errors["max_of_type"] = (
            f"Most loans of this type: blank for no limit of its own, or a whole number from "
            f"{MAX_OF_TYPE_RANGE[0]} to {MAX_OF_TYPE_RANGE[1]}."
        )
    if errors or loan_days is None or renewals is None:
        return None, errors
    return (
        Cell(
            category_id,
            item_type_id,
            loan_days=loan_days,
            max_renewals=renewals,
            due_at_term_end=period == "term",
            max_of_type=max_of_type,
            holds_allowed=form.get("holds") == "on",
            not_for_loan=period == "not_for_loan",
        ),
        {},
    )


def describe_cell(cell: Cell) -> str:
    """A cell in the matrix's words: "7 days, 1 renewal, at most 2, no holds"."""
    if cell.not_for_loan:
        return "Not for loan"
    rule = LoanRule(
        label="",
        loan_days=cell.loan_days,
        max_loans=0,
        max_renewals=cell.max_renewals,
        block_when_overdue=False,
        renew_overdue_days=0,
        max_holds=0,
        due_at_term_end=cell.due_at_term_end,
    )
    words = rule.describe().removeprefix(": ")
    if cell.due_at_term_end:
        words = words.replace("due at the end of term", f"end of term (else {cell.loan_days} days)")
    if cell.max_of_type is not None:
        words += f", at most {cell.max_of_type}"
    if not cell.holds_allowed:
        words += ", no holds"
    return words[0].upper() + words[1:]
