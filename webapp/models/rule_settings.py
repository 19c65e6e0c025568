"""The circulation rules as the library stored them: the rules matrix (patron categories ×
item types), terms, closed days and pickup days.

The decisions are the pure functions of ``webapp.rules``, which never touch the
database; this module reads and writes what they need: PatronCategories,
ItemTypes, CirculationRules (the matrix), Terms, ClosedDays, and the
LibrarySettings keys 'closed_weekdays' and 'hold_pickup_days'. Lending and the
hold queue read ``rule_for``, ``patron_rules`` (the desk panel's rules, whatever
the number of loans), ``load_calendar`` and ``hold_pickup_days`` inside their own
transactions; the first three come from the connection's ``rules_snapshot``,
read again only when the RulesVersion row moved (one single-row read per
operation otherwise); the rules page (webapp/views/rules.py) edits the matrix one
cell at a time (``save_cell``, ``clear_cell``), and categories, item types,
terms and closed days, each run by ``Database.write`` and logging every change
as a 'rules_changed' event.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date

from webapp import rules
from webapp.models import events

# What a library that never set its pickup period gets.
DEFAULT_HOLD_PICKUP_DAYS = 7


def _category(row: sqlite3.Row) -> rules.Category:
    return rules.Category(
        category_id=row["CategoryID"],
        name=row["Name"],
        max_loans=row["MaxLoans"],
        max_holds=row["MaxHolds"],
        block_when_overdue=bool(row["BlockWhenOverdue"]),
        renew_overdue_days=row["RenewOverdueDays"],
    )


def _cell(row: sqlite3.Row) -> rules.Cell:
    return rules.Cell(
        category_id=row["CategoryID"],
        item_type_id=row["ItemTypeID"],
        loan_days=row["LoanDays"],
        max_renewals=row["MaxRenewals"],
        due_at_term_end=bool(row["DueAtTermEnd"]),
        max_of_type=row["MaxOfType"],
        holds_allowed=bool(row["HoldsAllowed"]),
        not_for_loan=bool(row["NotForLoan"]),
    )


_CELL_COLUMNS = (
    "CategoryID, ItemTypeID, LoanDays, MaxRenewals, DueAtTermEnd, MaxOfType, HoldsAllowed, "
    "NotForLoan"
)


def load_categories(conn: sqlite3.Connection) -> list[rules.Category]:
    """Every patron category, by name."""
    rows = conn.execute("SELECT * FROM PatronCategories ORDER BY Name COLLATE NOCASE")
    return sorted((_category(row) for row in rows), key=lambda c: _natural(c.name))


def _natural(name: str) -> tuple:
    """Sort key putting "Year 7" before "Year 10"."""
    head, _, tail = name.rpartition(" ")
    return (head.casefold(), int(tail), "") if tail.isdigit() else (name.casefold(), -1, name)


def load_item_types(conn: sqlite3.Connection) -> list[rules.ItemType]:
    """Every item type, the default (Book) first, then by name."""
    return [
        rules.ItemType(row["ItemTypeID"], row["Name"])
        for row in conn.execute(
            "SELECT ItemTypeID, Name FROM ItemTypes ORDER BY IsDefault DESC, Name COLLATE NOCASE"
        )
    ]


def load_cells(conn: sqlite3.Connection) -> list[rules.Cell]:
    """Every cell of the matrix."""
    return [_cell(row) for row in conn.execute(f"SELECT {_CELL_COLUMNS} FROM CirculationRules")]


@dataclass
class RulesSnapshot:
    """The rules as one connection last read them, at RulesVersion ``version`` (a random
    value each change gives it): the
    categories, item types, cells and calendar, and the rules resolved from them so far."""

    version: int
    categories: dict[int, rules.Category]
    item_types: dict[int, rules.ItemType]
    default_type: rules.ItemType
    cells: tuple[rules.Cell, ...]
    calendar: rules.Calendar
    resolved: dict[tuple[int, int], rules.LoanRule] = field(default_factory=dict)

    def rule(self, category_id: int, item_type_id: int) -> rules.LoanRule:
        """The rule for a patron of this category borrowing this item type (``rules.resolve``)."""
        key = (category_id, item_type_id)
        found = self.resolved.get(key)
        if found is None:
            category = self.categories.get(category_id)
            if category is None:
                raise LookupError(f"no patron category {category_id}")
            item_type = self.item_types.get(item_type_id) or rules.ItemType(item_type_id, "?")
            found = self.resolved[key] = rules.resolve(self.cells, category, item_type)
        return found


# Each connection's last snapshot, newest last. A connection cannot be weakly referenced,
# so the few a process uses (its readers and writer) are kept, and at most this many.
_SNAPSHOTS: OrderedDict[sqlite3.Connection, RulesSnapshot] = OrderedDict()
MAX_SNAPSHOTS = 32


def rules_snapshot(conn: sqlite3.Connection) -> RulesSnapshot:
    """The rules as stored now: read again only when RulesVersion moved since this
    connection last read them (any process's change moves it, by triggers), else one
    single-row read. Inside a transaction it sees that transaction's own changes."""
    version = conn.execute("SELECT Version FROM RulesVersion").fetchone()[0]
    cached = _SNAPSHOTS.get(conn)
    if cached is not None and cached.version == version:
        return cached
    types = conn.execute("SELECT ItemTypeID, Name, IsDefault FROM ItemTypes").fetchall()
    item_types = {row[0]: rules.ItemType(row[0], row[1]) for row in types}
    snapshot = RulesSnapshot(
        version=version,
        categories={
            row["CategoryID"]: _category(row)
            for row in conn.execute("SELECT * FROM PatronCategories")
        },
        item_types=item_types,
        default_type=next(
            (item_types[row[0]] for row in types if row[2]), rules.ItemType(0, "Book")
        ),
        cells=tuple(load_cells(conn)),
        calendar=_read_calendar(conn),
    )
    _SNAPSHOTS[conn] = snapshot
    _SNAPSHOTS.move_to_end(conn)
    while len(_SNAPSHOTS) > MAX_SNAPSHOTS:
        _SNAPSHOTS.popitem(last=False)
    return snapshot


def rule_for(conn: sqlite3.Connection, category_id: int, item_type_id: int) -> rules.LoanRule:
    """The rule for a patron of this category borrowing a copy of this item type."""
    return rules_snapshot(conn).rule(category_id, item_type_id)


def not_for_loan_pairs(conn: sqlite3.Connection) -> frozenset[tuple[int, int]]:
    """Every (category, item type) whose rule says not for loan: the whole matrix resolved."""
    snapshot = rules_snapshot(conn)
    return frozenset(
        (category_id, item_type_id)
        for category_id in snapshot.categories
        for item_type_id in snapshot.item_types
        if snapshot.rule(category_id, item_type_id).not_for_loan
    )


@dataclass(frozen=True)
class PatronRules:
    """A patron category's rules for every item type (``patron_rules``): the desk panel
    resolves each loan's rule from here instead of querying per loan."""

    snapshot: RulesSnapshot
    category_id: int

    def for_type(self, item_type_id: int) -> rules.LoanRule:
        return self.snapshot.rule(self.category_id, item_type_id)

    @property
    def general(self) -> rules.LoanRule:
        """The rule for the default item type (Book): the panel's summary line."""
        return self.for_type(self.snapshot.default_type.item_type_id)


def patron_rules(conn: sqlite3.Connection, category_id: int) -> PatronRules:
    """The rules of a patron category, from the connection's snapshot."""
    return PatronRules(rules_snapshot(conn), category_id)


def _library_setting(conn: sqlite3.Connection, key: str) -> str:
    row = conn.execute("SELECT Value FROM LibrarySettings WHERE Key = ?", (key,)).fetchone()
    return (row[0] if row else None) or ""


def load_calendar(conn: sqlite3.Connection) -> rules.Calendar:
    """The days the library is shut (closed dates and weekdays) and the school's terms."""
    return rules_snapshot(conn).calendar


def _read_calendar(conn: sqlite3.Connection) -> rules.Calendar:
    return rules.Calendar(
        closed_days=frozenset(
            date.fromisoformat(row["Day"]) for row in conn.execute("SELECT Day FROM ClosedDays")
        ),
        closed_weekdays=rules.parse_closed_weekdays(_library_setting(conn, "closed_weekdays")),
        terms=tuple(_term(row) for row in conn.execute("SELECT * FROM Terms ORDER BY StartsOn")),
    )


def _term(row: sqlite3.Row) -> rules.Term:
    return rules.Term(
        row["Name"], date.fromisoformat(row["StartsOn"]), date.fromisoformat(row["EndsOn"])
    )


def terms(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """The terms in date order (columns TermID, Name, StartsOn, EndsOn)."""
    return conn.execute("SELECT * FROM Terms ORDER BY StartsOn").fetchall()


def hold_pickup_days(conn: sqlite3.Connection) -> int:
    """How many days a copy set aside for a hold waits on the hold shelf."""
    raw = _library_setting(conn, "hold_pickup_days")
    return int(raw) if raw.isdigit() else DEFAULT_HOLD_PICKUP_DAYS


def closed_days(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """The single closed dates, with their reasons, in date order (columns Day, Reason)."""
    return conn.execute("SELECT Day, Reason FROM ClosedDays ORDER BY Day").fetchall()


def save_settings(
    conn: sqlite3.Connection,
    *,
    closed_weekdays: frozenset[int],
    pickup_days: int,
    actor_id: int,
) -> list[str]:
    """Store the closed weekdays and pickup days; log each change as a 'rules_changed'
    event; return the changes."""
    changes = []
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


# The matrix, edited one cell at a time. Each change is a 'rules_changed' event.


def cell_names(
    conn: sqlite3.Connection, category_id: int | None, item_type_id: int | None
) -> tuple[str, str]:
    """A cell's item type and category by name ("any item", "any category" for None)."""
    category = "any category"
    if category_id is not None:
        row = conn.execute(
            "SELECT Name FROM PatronCategories WHERE CategoryID = ?", (category_id,)
        ).fetchone()
        category = row[0] if row else f"category {category_id}"
    item_type = "any item"
    if item_type_id is not None:
        row = conn.execute(
            "SELECT Name FROM ItemTypes WHERE ItemTypeID = ?", (item_type_id,)
        ).fetchone()
        item_type = row[0] if row else f"item type {item_type_id}"
    return item_type, category


def cell_name(conn: sqlite3.Connection, category_id: int | None, item_type_id: int | None) -> str:
    """A cell as the event log and the editor name it: "Laptop × Year 8", "any item × Year 8"."""
    return " × ".join(cell_names(conn, category_id, item_type_id))


def get_cell(
    conn: sqlite3.Connection, category_id: int | None, item_type_id: int | None
) -> rules.Cell | None:
    """The cell stored for exactly this category and item type (None: not set)."""
    row = conn.execute(
        f"SELECT {_CELL_COLUMNS} FROM CirculationRules WHERE CategoryID IS ? AND ItemTypeID IS ?",
        (category_id, item_type_id),
    ).fetchone()
    return None if row is None else _cell(row)


def cell_exists_for(
    conn: sqlite3.Connection, category_id: int | None, item_type_id: int | None
) -> bool:
    """Whether the category and item type (None: any) both exist."""
    return all(
        key is None or conn.execute(sql, (key,)).fetchone() is not None
        for key, sql in (
            (category_id, "SELECT 1 FROM PatronCategories WHERE CategoryID = ?"),
            (item_type_id, "SELECT 1 FROM ItemTypes WHERE ItemTypeID = ?"),
        )
    )


def save_cell(conn: sqlite3.Connection, cell: rules.Cell, *, actor_id: int) -> str | None:
    """Store one cell of the matrix and log it; the change in words, or None if unchanged."""
    before = get_cell(conn, cell.category_id, cell.item_type_id)
    if before == cell:
        return None
    values = (
        cell.loan_days,
        cell.max_renewals,
        int(cell.due_at_term_end),
        cell.max_of_type,
        int(cell.holds_allowed),
        int(cell.not_for_loan),
    )
    if before is None:
        conn.execute(
            f"INSERT INTO CirculationRules ({_CELL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (cell.category_id, cell.item_type_id, *values),
        )
    else:
        conn.execute(
            "UPDATE CirculationRules SET LoanDays = ?, MaxRenewals = ?, DueAtTermEnd = ?, "
            "MaxOfType = ?, HoldsAllowed = ?, NotForLoan = ? "
            "WHERE CategoryID IS ? AND ItemTypeID IS ?",
            (*values, cell.category_id, cell.item_type_id),
        )
    change = f"rule {cell_name(conn, cell.category_id, cell.item_type_id)}: "
    change += rules.describe_cell(cell)
    if before is not None:
        change += f" (was: {rules.describe_cell(before)})"
    events.log(conn, "rules_changed", actor_id, detail=change)
    return change


def clear_cell(
    conn: sqlite3.Connection, category_id: int | None, item_type_id: int | None, *, actor_id: int
) -> str | None:
    """Remove one cell (the less specific rules then apply) and log it; None if it was not set.

    The "any × any" cell cannot be removed (the caller refuses it; a trigger guards it too).
    """
    before = get_cell(conn, category_id, item_type_id)
    if before is None:
        return None
    conn.execute(
        "DELETE FROM CirculationRules WHERE CategoryID IS ? AND ItemTypeID IS ?",
        (category_id, item_type_id),
    )
    change = (
        f"rule {cell_name(conn, category_id, item_type_id)} removed "
        f"(was: {rules.describe_cell(before)})"
    )
    events.log(conn, "rules_changed", actor_id, detail=change)
    return change


# Patron categories and item types. A name is unique whatever its case; one in use
# (by a user, a copy, or as a role's default) cannot be removed.


def _name_taken(
    conn: sqlite3.Connection, table: str, key: str, name: str, own_id: int | None
) -> bool:
    row = conn.execute(
        f"SELECT {key} FROM {table} WHERE Name = ? COLLATE NOCASE", (name,)
    ).fetchone()
    return row is not None and row[0] != own_id


def save_category(
    conn: sqlite3.Connection,
    *,
    category_id: int | None,
    name: str,
    max_loans: int,
    max_holds: int,
    block_when_overdue: bool,
    renew_overdue_days: int,
    actor_id: int,
) -> str:
    """Add (``category_id`` None) or change a patron category and log it; the change in words.

    Raises ValueError with the reason when the name is another category's, LookupError
    when there is no such category.
    """
    if (
        category_id is not None
        and not conn.execute(
            "SELECT 1 FROM PatronCategories WHERE CategoryID = ?", (category_id,)
        ).fetchone()
    ):
        raise LookupError("no such patron category")
    if _name_taken(conn, "PatronCategories", "CategoryID", name, category_id):
        raise ValueError(f"There is already a patron category called “{name}”.")
    values = (name, max_loans, max_holds, int(block_when_overdue), renew_overdue_days)
    if category_id is None:
        conn.execute(
            "INSERT INTO PatronCategories (Name, MaxLoans, MaxHolds, BlockWhenOverdue, "
            "RenewOverdueDays) VALUES (?, ?, ?, ?, ?)",
            values,
        )
        what = "added"
    else:
        conn.execute(
            "UPDATE PatronCategories SET Name = ?, MaxLoans = ?, MaxHolds = ?, "
            "BlockWhenOverdue = ?, RenewOverdueDays = ? WHERE CategoryID = ?",
            (*values, category_id),
        )
        what = "changed"
    change = (
        f"patron category {name} {what}: up to {max_loans} loans in all, {max_holds} holds, "
        f"overdue items {'block' if block_when_overdue else 'do not block'} new loans, "
        f"renewable up to {renew_overdue_days} days overdue"
    )
    events.log(conn, "rules_changed", actor_id, detail=change)
    return change


def delete_category(conn: sqlite3.Connection, *, category_id: int, actor_id: int) -> str:
    """Remove an unused patron category and its cells; ValueError says why it cannot go."""
    row = conn.execute(
        "SELECT Name, DefaultForRole FROM PatronCategories WHERE CategoryID = ?", (category_id,)
    ).fetchone()
    if row is None:
        raise LookupError("no such patron category")
    if row["DefaultForRole"]:
        raise ValueError(
            f"{row['Name']} is the category new {row['DefaultForRole']} accounts get: "
            "it cannot be removed."
        )
    users = conn.execute(
        "SELECT count(*) FROM Users WHERE CategoryID = ?", (category_id,)
    ).fetchone()[0]
    if users:
        raise ValueError(
            f"{users} patron{'s are' if users != 1 else ' is'} in {row['Name']}: "
            "move them to another category first."
        )
    conn.execute("DELETE FROM CirculationRules WHERE CategoryID = ?", (category_id,))
    conn.execute("DELETE FROM PatronCategories WHERE CategoryID = ?", (category_id,))
    change = f"patron category {row['Name']} removed, with its rules"
    events.log(conn, "rules_changed", actor_id, detail=change)
    return change


def save_item_type(
    conn: sqlite3.Connection, *, item_type_id: int | None, name: str, actor_id: int
) -> str:
    """Add (``item_type_id`` None) or rename an item type and log it; ValueError if the
    name is taken."""
    if _name_taken(conn, "ItemTypes", "ItemTypeID", name, item_type_id):
        raise ValueError(f"There is already an item type called “{name}”.")
    if item_type_id is None:
        conn.execute("INSERT INTO ItemTypes (Name) VALUES (?)", (name,))
        change = f"item type {name} added"
    else:
        old = conn.execute(
            "SELECT Name FROM ItemTypes WHERE ItemTypeID = ?", (item_type_id,)
        ).fetchone()
        if old is None:
            raise LookupError("no such item type")
        conn.execute("UPDATE ItemTypes SET Name = ? WHERE ItemTypeID = ?", (name, item_type_id))
        change = f"item type {old[0]} renamed {name}"
    events.log(conn, "rules_changed", actor_id, detail=change)
    return change


def delete_item_type(conn: sqlite3.Connection, *, item_type_id: int, actor_id: int) -> str:
    """Remove an unused item type and its cells; ValueError says why it cannot go."""
    row = conn.execute(
        "SELECT Name, IsDefault FROM ItemTypes WHERE ItemTypeID = ?", (item_type_id,)
    ).fetchone()
    if row is None:
        raise LookupError("no such item type")
    if row["IsDefault"]:
        raise ValueError(f"{row['Name']} is the item type new copies get: it cannot be removed.")
    copies = conn.execute(
        "SELECT count(*) FROM Copies WHERE ItemTypeID = ?", (item_type_id,)
    ).fetchone()[0]
    if copies:
        raise ValueError(
            f"{copies} cop{'ies are' if copies != 1 else 'y is'} {row['Name']}: "
            "change their item type first."
        )
    conn.execute("DELETE FROM CirculationRules WHERE ItemTypeID = ?", (item_type_id,))
    conn.execute("DELETE FROM ItemTypes WHERE ItemTypeID = ?", (item_type_id,))
    change = f"item type {row['Name']} removed, with its rules"
    events.log(conn, "rules_changed", actor_id, detail=change)
    return change


# Terms


def add_term(
    conn: sqlite3.Connection, *, name: str, starts_on: date, ends_on: date, actor_id: int
) -> str:
    """Add a term and log it; ValueError when it overlaps another term."""
    new = rules.Term(name, starts_on, ends_on)
    clash = rules.terms_overlap([*load_calendar(conn).terms, new])
    if clash is not None:
        other = clash[0] if clash[1] is new else clash[1]
        raise ValueError(
            f"{name} overlaps {other.name} ({other.starts_on.isoformat()} to "
            f"{other.ends_on.isoformat()})."
        )
    conn.execute(
        "INSERT INTO Terms (Name, StartsOn, EndsOn) VALUES (?, ?, ?)",
        (name, starts_on.isoformat(), ends_on.isoformat()),
    )
    change = f"term {name}: {starts_on.isoformat()} to {ends_on.isoformat()}"
    events.log(conn, "rules_changed", actor_id, detail=change)
    return change


def remove_term(conn: sqlite3.Connection, *, term_id: int, actor_id: int) -> str | None:
    """Remove a term and log it; None when there was no such term."""
    row = conn.execute("SELECT * FROM Terms WHERE TermID = ?", (term_id,)).fetchone()
    if row is None:
        return None
    conn.execute("DELETE FROM Terms WHERE TermID = ?", (term_id,))
    change = f"term {row['Name']} removed ({row['StartsOn']} to {row['EndsOn']})"
    events.log(conn, "rules_changed", actor_id, detail=change)
    return change
