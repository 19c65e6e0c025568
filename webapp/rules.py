"""Circulation rules as pure functions: due dates, and whether a lend or renewal may happen.

Nothing here touches the database or the clock: the models load the rules, the
calendar and the patron's standing, call these functions, and act on the answer.
That keeps every decision the desk makes testable in a line (tests/test_rules.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

# Every account has one of these roles; each has a row of LoanRules.
ROLES = ("Student", "Librarian", "Admin")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class LoanRule:
    """One row of LoanRules: what a role may borrow, and for how long."""

    role: str
    loan_days: int
    max_loans: int
    max_renewals: int
    block_when_overdue: bool
    renew_overdue_days: int
    max_holds: int

    def describe(self) -> str:
        """How the desk names the rule that gave a due date."""
        return f"{self.role} rule: {self.loan_days} days"


@dataclass(frozen=True)
class Calendar:
    """The days the library is shut: single dates and whole weekdays (0 = Monday)."""

    closed_days: frozenset[date] = frozenset()
    closed_weekdays: frozenset[int] = frozenset()

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
    """``start`` + the rule's loan period, moved forward off closed days."""
    natural = start + timedelta(days=rule.loan_days)
    day = calendar.next_open_day(natural)
    explanation = rule.describe()
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
    name: str
    active: bool
    open_loans: int
    overdue_loans: int


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
    if set_aside_for is not None:
        return Decision(False, f"This copy is set aside for {set_aside_for}'s hold.")
    if standing.open_loans >= rule.max_loans:
        return Decision(
            False,
            f"{standing.name} has {standing.open_loans} loans, the limit for a {rule.role} "
            f"({rule.max_loans}).",
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
    if renewals >= rule.max_renewals:
        return Decision(
            False,
            f"Already renewed {renewals} times, the most a {rule.role} may ({rule.max_renewals}).",
        )
    late = days_overdue(due, today)
    if late > rule.renew_overdue_days:
        if rule.renew_overdue_days == 0:
            return Decision(
                False, f"This loan is {late} days overdue: overdue loans cannot be renewed."
            )
        return Decision(
            False,
            f"This loan is {late} days overdue; a {rule.role} may renew up to "
            f"{rule.renew_overdue_days} days overdue.",
        )
    if held_by_another:
        return Decision(False, "Another patron is waiting for this title, so it cannot be renewed.")
    return ALLOWED


def can_place_hold(*, patron_name: str, rule: LoanRule, active_holds: int) -> Decision:
    """Whether a patron with ``active_holds`` holds (waiting or ready) may place one more."""
    if rule.max_holds == 0:
        return Decision(False, f"A {rule.role} may not place holds.")
    if active_holds >= rule.max_holds:
        holds = "hold" if active_holds == 1 else "holds"
        return Decision(
            False,
            f"{patron_name} already has {active_holds} {holds}, the most a {rule.role} may place.",
        )
    return ALLOWED


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

    Only the loan limit and the overdue block may be set aside: an inactive
    account, a withdrawn or lost copy, or a copy kept for someone else's hold is
    refused as ever. Allowed with an empty reason when there is nothing to set aside.
    """
    relaxed = replace(
        rule, max_loans=max(rule.max_loans, standing.open_loans + 1), block_when_overdue=False
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
