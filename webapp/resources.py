"""Where the templates, static files and migrations are.

In a wheel they sit inside the ``webapp`` package (pyproject.toml maps them
there); in a source checkout they sit at the top of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    packaged = _PACKAGE / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent / name


TEMPLATES = resource_dir("templates")
STATIC = resource_dir("static")
MIGRATIONS = resource_dir("sql")
