"""Which column of an uploaded CSV file feeds which field, for every CSV importer.

Each importer names its fields and, for each, the header names seen in the wild
(``COLUMN_ALIASES``); the mapping is detected from the file's header, or chosen
by a librarian in the web preview and checked here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def detect_mapping(header: Iterable[str], aliases: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Map each field to the first column of ``header`` named like one of its aliases.

    ``aliases`` are lower-case and tried in order, so the trustworthy column comes first.
    """
    by_name = {name.strip().lower(): name for name in header}
    mapping = {}
    for field_name, names in aliases.items():
        for alias in names:
            if alias in by_name:
                mapping[field_name] = by_name[alias]
                break
    return mapping


def checked_mapping(
    header: list[str], mapping: dict[str, str], fields: Iterable[str]
) -> dict[str, str]:
    """``mapping`` limited to known fields and columns of ``header``; empty choices dropped."""
    known = set(fields)
    columns = set(header)
    unknown = sorted(column for name, column in mapping.items() if column and column not in columns)
    if unknown:
        raise ValueError(f"the file has no column named {', '.join(map(repr, unknown))}")
    return {name: column for name, column in mapping.items() if name in known and column}
