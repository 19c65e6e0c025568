"""What a patron may do about a loan, in their words: My account and the reminder email.

The verdict is always the server's own: ``rules.can_renew`` and then
``rules.renewal_moves_due``, the checks ``loans.renew`` makes. So My account offers
Renew exactly when a renewal would be accepted, and the reminder email advises
renewing online exactly then. When it would be refused, each obstacle is found by
asking ``can_renew`` again with every other obstacle taken away, so the words name
the rule that really stands in the way ("already renewed twice", "overdue: bring it
back"), and a new refusal the words do not know yet still hides the button, with the
rule's own reason. Pure: callers pass the rule, the calendar and today.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from webapp import rules

# Large enough to take away the overdue limit when asking about the other obstacles.
_NO_OVERDUE_LIMIT = 100_000


@dataclass(frozen=True)
class RenewalAdvice:
    """Whether the patron may renew the loan now; if not, why (short, for My account's
    row) and what to do (a sentence, for the reminder email)."""

    renewable: bool
    why_not: str = ""
    advice: str = ""


RENEWABLE = RenewalAdvice(True, advice="You can renew it online: sign in and choose Renew.")


def times(count: int) -> str:
    """'once', 'twice', '3 times'."""
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def renewal_advice(
    *,
    rule: rules.LoanRule,
    renewals: int,
    due: date,
    today: date,
    held_by_another: bool,
    calendar: rules.Calendar,
) -> RenewalAdvice:
    """What a patron may do about an open loan today, by the rules ``loans.renew`` applies."""

    def refused_by(some_rule: rules.LoanRule, held: bool) -> bool:
        return not rules.can_renew(
            rule=some_rule, renewals=renewals, due=due, today=today, held_by_another=held
        )

    decision = rules.can_renew(
        rule=rule, renewals=renewals, due=due, today=today, held_by_another=held_by_another
    )
    if not decision:
        any_renewals = replace(rule, max_renewals=max(rule.max_renewals, renewals + 1))
        neither = replace(any_renewals, renew_overdue_days=_NO_OVERDUE_LIMIT)
        if refused_by(neither, held=False):
            # A refusal these words do not know: the rule's own reason.
            return RenewalAdvice(False, decision.reason, decision.reason)
        if refused_by(any_renewals, held=False):
            return RenewalAdvice(
                False,
                "Overdue: bring it back",
                "It is overdue and can no longer be renewed: please bring it back.",
            )
        if refused_by(neither, held=held_by_another):
            return RenewalAdvice(
                False,
                "Someone is waiting for it: bring it back",
                "Someone is waiting for it, so it cannot be renewed: please bring it back.",
            )
        used = times(renewals)
        return RenewalAdvice(
            False,
            f"Already renewed {used}",
            f"It has already been renewed {used}, the most allowed: please bring it back.",
        )
    if not rules.renewal_moves_due(due, rules.renewed_due_date(today, due, rule, calendar)):
        start = first_useful_renewal(due=due, today=today, rule=rule, calendar=calendar)
        return RenewalAdvice(
            False,
            f"Renew from {_day(start)}",
            f"It is too soon to renew it: you can renew it from {_day(start)}.",
        )
    return RENEWABLE


def first_useful_renewal(
    *, due: date, today: date, rule: rules.LoanRule, calendar: rules.Calendar
) -> date:
    """The first day from ``today`` on which renewing moves the due date later (by
    ``rules.renewed_due_date``); at the latest the due date itself."""
    day = today
    while day < due:
        if rules.renewal_moves_due(due, rules.renewed_due_date(day, due, rule, calendar)):
            return day
        day += timedelta(days=1)
    return due
