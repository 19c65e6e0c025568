"""The school year's pure rules: what a class becomes next year, and whether a promotion
typed on the page makes sense. No database: ``webapp.models.leavers`` applies them."""

from __future__ import annotations

import re

# What the oldest class becomes: a group the leavers page can pick.
LEAVERS_GROUP = "Leavers"
# The year a school's pupils leave after (Year 13 in England and Wales).
LAST_YEAR = 13
MAX_GROUP_LENGTH = 100

_NUMBERED = re.compile(r"^(?P<before>\D*?)(?P<year>\d{1,2})(?P<after>\D*)$")


def next_group(name: str, last_year: int = LAST_YEAR) -> str:
    """What a class is called next year: "Year 7" → "Year 8", "9B" → "10B",
    "Year 13" → "Leavers"; a name without a year number stays as it is."""
    match = _NUMBERED.match(name.strip())
    if not match:
        return name
    year = int(match["year"])
    if year >= last_year:
        return LEAVERS_GROUP
    return f"{match['before']}{year + 1}{match['after']}"


def check_promotion(
    current: list[str], typed: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The renames to make (old → new, only those that change) and the errors by old name.

    ``typed`` maps each current group to the name typed for it (blank: unchanged).
    Renames apply together, so Year 7 → Year 8 and Year 8 → Year 9 is one step,
    not Year 7 → Year 9.
    """
    mapping, errors = {}, {}
    for old in current:
        new = (typed.get(old) or "").strip()
        if not new or new == old:
            continue
        if len(new) > MAX_GROUP_LENGTH:
            errors[old] = f"A group name is at most {MAX_GROUP_LENGTH} characters."
            continue
        mapping[old] = new
    return mapping, errors
