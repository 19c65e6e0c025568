"""The import rules of docs/architecture.md, checked on the source so the page stays true."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import REPO

PURE = [
    "rules", "reminder_stages", "search_query", "ranking", "clock", "validation",
    "shelf_marks", "labels", "passwords", "sign_in_rules", "login_throttle", "spelling",
    "loan_advice", "languages", "school_year", "notice_templates", "report_periods",
    "stocktake_rules",
]  # fmt: skip
NO_QUART = [
    "db", "outbox", "emails", "mail", "leases", "write_failures", "isbn_lookup", "covers",
    "library_cards", "send_now", "oidc", *PURE,
]  # fmt: skip


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _touches(imports: set[str], package: str) -> set[str]:
    return {name for name in imports if name == package or name.startswith(package + ".")}


@pytest.mark.parametrize(
    "path",
    [REPO / "webapp" / f"{name}.py" for name in NO_QUART]
    + sorted((REPO / "webapp" / "models").glob("*.py"))
    + sorted((REPO / "jobs").glob("*.py")),
    ids=lambda path: str(path.relative_to(REPO)),
)
def test_the_database_models_mail_and_jobs_know_nothing_of_quart(path):
    imports = _imports(path)
    assert _touches(imports, "quart") | _touches(imports, "flask") == set()


@pytest.mark.parametrize("name", PURE)
def test_pure_rules_touch_no_database(name):
    imports = _imports(REPO / "webapp" / f"{name}.py")
    assert _touches(imports, "sqlite3") | _touches(imports, "webapp.db") == set()
    assert _touches(imports, "webapp.models") == set()


@pytest.mark.parametrize(
    "path", sorted((REPO / "webapp" / "views").glob("*.py")), ids=lambda path: path.name
)
def test_views_never_import_the_scheduler(path):
    assert _touches(_imports(path), "webapp.jobs.scheduler") == set()
