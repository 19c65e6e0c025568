"""A non-editable install finds its templates, static files and migrations on its own."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

from .conftest import REPO


def test_the_wheel_carries_templates_static_files_and_migrations_and_runs_from_elsewhere(tmp_path):
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--wheel-dir",
            str(wheel_dir),
            str(REPO),
        ],
        check=True,
    )
    (wheel,) = wheel_dir.glob("shelfmark-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "webapp/templates/layout/base.html",
        "webapp/templates/catalogue/_search_results.html",
        "webapp/static/htmx-2.0.11.min.js",
        "webapp/static/shelfmark.css",
        "webapp/sql/0001_initial.sql",
        "webapp/jobs/__init__.py",
    ):
        assert expected in names, f"{expected} is missing from the wheel"

    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import asyncio, webapp, webapp.resources as r\n"
        "from webapp import create_app\n"
        "from webapp.config import Settings\n"
        f"assert webapp.__file__.startswith({str(installed)!r}), webapp.__file__\n"
        f"assert str(r.TEMPLATES).startswith({str(installed)!r}), r.TEMPLATES\n"
        "async def main():\n"
        "    app = create_app(Settings(database='db.sqlite3'))\n"
        "    async with app.test_app() as test_app:\n"
        "        response = await test_app.test_client().get('/search?q=x')\n"
        "        assert response.status_code == 200\n"
        "        assert (await test_app.test_client().get('/static/htmx-2.0.11.min.js')).status_code == 200\n"
        "asyncio.run(main())\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=elsewhere,
        env={**os.environ, "PYTHONPATH": str(installed)},
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == "ok", result.stderr
