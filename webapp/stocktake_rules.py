"""What a copy scanned in a stocktake is, and what counts as missing (pure: no database).

A stocktake covers the whole library or a set of shelf locations. A scanned copy is:

- ``expected``: on the shelf where it belongs;
- ``misplaced``: in the library but not where it belongs (outside the stocktake's
  locations, or not at the shelf the scanner said they were at);
- ``on_loan``: the records say it is out, yet it is in the scanner's hand (check it in?);
- ``withdrawn``: taken out of the collection, yet on the shelf (take it off);
- ``lost``: recorded as lost, and here it is (found! return it to stock?);
- ``unknown``: no copy has the code.

A copy counts once per stocktake, whatever it was; ``already`` is the answer to a second
scan of it. The missing are the copies the stocktake expected (in its scope, in stock,
not on loan) that nobody scanned.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

EXPECTED = "expected"
MISPLACED = "misplaced"
ON_LOAN = "on_loan"
WITHDRAWN = "withdrawn"
LOST = "lost"
UNKNOWN = "unknown"
ALREADY = "already"
RESULTS = (EXPECTED, MISPLACED, ON_LOAN, WITHDRAWN, LOST, UNKNOWN)

# What each result is called on the pages and in the CSV export.
RESULT_LABELS = {
    EXPECTED: "Where it belongs",
    MISPLACED: "Misplaced",
    ON_LOAN: "On loan",
    WITHDRAWN: "Withdrawn",
    LOST: "Found (was lost)",
    UNKNOWN: "Unknown code",
}

MAX_NAME_LENGTH = 100
MAX_LOCATION_LENGTH = 100


@dataclass(frozen=True)
class Scope:
    """The copies a stocktake covers: every one, or those at ``locations``."""

    whole_library: bool
    locations: frozenset[str] = frozenset()

    def covers(self, location: str | None) -> bool:
        return self.whole_library or (location is not None and location in self.locations)


@dataclass(frozen=True)
class ScannedCopy:
    """What the records say about a scanned copy."""

    status: str  # Copies.Status: in_stock, withdrawn or lost
    location: str | None
    on_loan: bool


def classify(copy: ScannedCopy | None, scope: Scope, shelf: str | None) -> str:
    """What a scan found. ``shelf`` is the location the scanner is at (None: not said).

    A lost copy is found whatever else is true of it (even on loan: the copy page can
    mark a copy lost while it is out), so the librarian is offered to put it back.
    """
    if copy is None:
        return UNKNOWN
    if copy.status == "lost":
        return LOST
    if copy.status == "withdrawn":
        return WITHDRAWN
    if copy.on_loan:
        return ON_LOAN
    if not scope.covers(copy.location) or (shelf is not None and copy.location != shelf):
        return MISPLACED
    return EXPECTED


def is_expected(status: str, location: str | None, on_loan: bool, scope: Scope) -> bool:
    """Whether the stocktake expects to find the copy on a shelf: in its scope, in stock,
    not on loan. Those of them nobody scanned are missing."""
    return status == "in_stock" and not on_loan and scope.covers(location)


def describe(result: str, title: str, code: str, location: str | None) -> str:
    """The scan log's line for a first scan of ``code`` (a copy of ``title`` at ``location``)."""
    where = location or "no location"
    if result == UNKNOWN:
        return f"Unknown code “{code}”: no copy has it. Recorded for the report."
    if result == EXPECTED:
        return f"Counted: {title} ({code}), {where}."
    if result == MISPLACED:
        return f"Misplaced: {title} ({code}) belongs at {where}. Counted; put it back there."
    if result == ON_LOAN:
        return (
            f"On loan: {title} ({code}) is recorded as out, so it should not be on the shelf. "
            "Counted; check it in?"
        )
    if result == WITHDRAWN:
        return (
            f"Withdrawn: {title} ({code}) was taken out of the collection: take it off the shelf."
        )
    if result == LOST:
        return f"Found! {title} ({code}) was recorded as lost. Return it to stock?"
    raise ValueError(f"no such result: {result}")


def check_name(raw: str) -> tuple[str, str | None]:
    """The stocktake's name as typed, trimmed, and why it is refused (None: it is fine)."""
    name = " ".join(raw.split())
    if not name:
        return name, "Give the stocktake a name, such as “Summer term 2026”."
    if len(name) > MAX_NAME_LENGTH:
        return name, f"The name may be at most {MAX_NAME_LENGTH} characters."
    return name, None


def check_scope(
    whole_library: bool, chosen: Collection[str], existing: Collection[str]
) -> tuple[Scope, str | None]:
    """The scope asked for, and why it is refused (None: it is fine): a set of locations
    must name at least one, and only locations some copy has."""
    if whole_library:
        return Scope(True), None
    unknown = sorted(set(chosen) - set(existing))
    if unknown:
        return Scope(False), f"No copy is at “{unknown[0]}”: choose from the list."
    if not chosen:
        return Scope(False), "Choose the whole library or at least one location."
    return Scope(False, frozenset(chosen)), None


def percent(done: int, total: int) -> int:
    """Whole percent done, rounded down, so 100 only when everything is done."""
    return 100 if total == 0 else done * 100 // total
