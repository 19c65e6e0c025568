"""The circulation rules as the library stored them: loan rules per role, closed days, pickup days.

The decisions are the pure functions of ``webapp.rules``, which never touch the
database; this module reads and writes what they need: LoanRules, ClosedDays,
and the LibrarySettings keys 'closed_weekdays' and 'hold_pickup_days'. Lending
and the hold queue read ``load_rules``, ``load_calendar`` and ``hold_pickup_days``
inside their own transactions; the rules page (webapp/views/admin.py) reads
them all and saves them with ``save_rules``, ``add_closed_day`` and
``remove_closed_day``, each run by ``Database.write`` and logging every change
as a 'rules_changed' event.
"""

from __future__ import annotations

import sqlite3
from datetime import date

from webapp import rules
from webapp.models import events

# What a library that never set its pickup period gets.
DEFAULT_HOLD_PICKUP_DAYS = 7


def _rule_from_row(row: sqlite3.Row) -> rules.LoanRule:
    return rules.LoanRule(
        role=row["Role"],
        loan_days=row["LoanDays"],
        max_loans=row["MaxLoans"],
        max_renewals=row["MaxRenewals"],
        block_when_overdue=bool(row["BlockWhenOverdue"]),
        renew_overdue_days=row["RenewOverdueDays"],
        max_holds=row["MaxHolds"],
    )


def load_rules(conn: sqlite3.Connection) -> dict[str, rules.LoanRule]:
    """The loan rule of each role."""
    return {row["Role"]: _rule_from_row(row) for row in conn.execute("SELECT * FROM LoanRules")}


def _library_setting(conn: sqlite3.Connection, key: str) -> str:
    row = conn.execute("SELECT Value FROM LibrarySettings WHERE Key = ?", (key,)).fetchone()
    return (row[0] if row else None) or ""


def load_calendar(conn: sqlite3.Connection) -> rules.Calendar:
    """The days the library is shut: the closed dates and the closed weekdays."""
    return rules.Calendar(
        closed_days=frozenset(
            date.fromisoformat(row["Day"]) for row in conn.execute("SELECT Day FROM ClosedDays")
        ),
        closed_weekdays=rules.parse_closed_weekdays(_library_setting(conn, "closed_weekdays")),
    )


def hold_pickup_days(conn: sqlite3.Connection) -> int:
    """How many days a copy set aside for a hold waits on the hold shelf."""
    raw = _library_setting(conn, "hold_pickup_days")
    return int(raw) if raw.isdigit() else DEFAULT_HOLD_PICKUP_DAYS


def closed_days(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """The single closed dates, with their reasons, in date order (columns Day, Reason)."""
    return conn.execute("SELECT Day, Reason FROM ClosedDays ORDER BY Day").fetchall()


def save_rules(
    conn: sqlite3.Connection,
    *,
    loan_rules: list[rules.LoanRule],
    closed_weekdays: frozenset[int],
    pickup_days: int,
    actor_id: int,
) -> list[str]:
    """Store the rules page; log each change as a 'rules_changed' event; return the changes."""
    before = load_rules(conn)
    changes = []
    for rule in loan_rules:
        old = before.get(rule.role)
        if old == rule:
            continue
        conn.execute(
            "UPDATE LoanRules SET LoanDays = ?, MaxLoans = ?, MaxRenewals = ?, "
            "BlockWhenOverdue = ?, RenewOverdueDays = ?, MaxHolds = ? WHERE Role = ?",
            (
                rule.loan_days,
                rule.max_loans,
                rule.max_renewals,
                int(rule.block_when_overdue),
                rule.renew_overdue_days,
                rule.max_holds,
                rule.role,
            ),
        )
        changes.append(
            f"{rule.role}: {rule.loan_days} days, {rule.max_loans} loans, "
            f"{rule.max_renewals} renewals, overdue items "
            f"{'block' if rule.block_when_overdue else 'do not block'} new loans, "
            f"renewable up to {rule.renew_overdue_days} days overdue, "
            f"up to {rule.max_holds} holds"
        )
    weekdays = rules.format_closed_weekdays(closed_weekdays)
    if weekdays != _library_setting(conn, "closed_weekdays"):
        conn.execute(
            "UPDATE LibrarySettings SET Value = ? WHERE Key = 'closed_weekdays'", (weekdays,)
        )
        names = ", ".join(rules.WEEKDAY_NAMES[day] for day in sorted(closed_weekdays))
        changes.append(f"closed every {names}" if names else "open every weekday")
    if str(pickup_days) != _library_setting(conn, "hold_pickup_days"):
        conn.execute(
            "UPDATE LibrarySettings SET Value = ? WHERE Key = 'hold_pickup_days'",
            (str(pickup_days),),
        )
        changes.append(f"holds wait {pickup_days} days for collection")
    for change in changes:
        events.log(conn, "rules_changed", actor_id, detail=change)
    return changes


def add_closed_day(
    conn: sqlite3.Connection, *, day: date, reason: str | None, actor_id: int
) -> bool:
    """Mark ``day`` closed and log it; False when it already was."""
    cursor = conn.execute(
        "INSERT INTO ClosedDays (Day, Reason) VALUES (?, ?) ON CONFLICT (Day) DO NOTHING",
        (day.isoformat(), reason or None),
    )
    if cursor.rowcount == 0:
        return False
    detail = f"closed on {day.isoformat()}" + (f" ({reason})" if reason else "")
    events.log(conn, "rules_changed", actor_id, detail=detail)
    return True


def remove_closed_day(conn: sqlite3.Connection, *, day: date, actor_id: int) -> bool:
    """Open ``day`` again and log it; False when it was not a closed day."""
    cursor = conn.execute("DELETE FROM ClosedDays WHERE Day = ?", (day.isoformat(),))
    if cursor.rowcount == 0:
        return False
    events.log(conn, "rules_changed", actor_id, detail=f"open again on {day.isoformat()}")
    return True
