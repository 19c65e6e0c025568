"""Shelfmark as shipped: the built wheel, installed in a fresh venv outside the repository.

An editable install hides a broken wheel (setuptools' editable finder loads any
module from the checkout, listed in pyproject.toml or not), so these tests never
import the app from the development venv: they build the wheel and the sdist with
``python -m build``, install the wheel into a new virtual environment in a temporary
folder, and run the ``shelfmark`` command from another folder with no PYTHONPATH.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO
from .server import free_port, wait_until_up

# The sources that must travel, by where they live in the checkout and where the
# wheel puts them (pyproject.toml maps the top-level folders into the webapp package).
SHIPPED_TREES = {
    "webapp": "webapp",
    "jobs": "webapp/jobs",
    "templates": "webapp/templates",
    "static": "webapp/static",
    "sql": "webapp/sql",
}
MAX_SDIST_FILE = 2 * 1024 * 1024


def _source_files() -> dict[str, Path]:
    """Every file of the shipped trees (bytecode aside), keyed by its path in the wheel."""
    files = {}
    for top, inside in SHIPPED_TREES.items():
        for path in (REPO / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                files[f"{inside}/{path.relative_to(REPO / top).as_posix()}"] = path
    return files


def _clean_copy(target: Path) -> Path:
    """The checkout's files as a fresh clone would have them (tracked, and new files git does
    not ignore), so no build/ or *.egg-info left by an editable install can slip stale files
    into the wheel, as they would building in place."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """The wheel (built from the source tree, as ``pip install .`` does) and the sdist."""
    if not (REPO / ".git").exists():
        pytest.skip("needs a git checkout to know which files are the sources")
    source = _clean_copy(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel"]
        + ["--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("shelfmark-*.whl")
    (sdist,) = out.glob("shelfmark-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def test_every_package_directory_is_listed_in_pyproject():
    """A package missing from pyproject's list is missing from the wheel (issue 14's bug)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = {folder: package for package, folder in config["package-dir"].items()}
    found = set()
    for init in REPO.glob("**/__init__.py"):
        parts = init.parent.relative_to(REPO).parts
        if not parts or parts[0] in {"tests", "bench", "build", "dist"} or parts[0][0] == ".":
            continue
        top = mapped.get(parts[0])
        found.add(".".join([top, *parts[1:]]) if top else ".".join(parts))
    assert found - set(config["packages"]) == set()


def test_the_wheel_holds_every_module_template_static_file_and_migration(built):
    names = set(zipfile.ZipFile(built["wheel"]).namelist())
    missing = sorted(set(_source_files()) - names)
    assert missing == [], f"missing from the wheel: {missing}"


def test_the_sdist_holds_the_sources_and_nothing_large_or_stray(built):
    with tarfile.open(built["sdist"]) as sdist:
        members = {m.name.split("/", 1)[1]: m for m in sdist.getmembers() if "/" in m.name}
    for path in _source_files().values():
        source = path.relative_to(REPO).as_posix()
        assert source in members, f"{source} is missing from the sdist"
    too_large = [name for name, m in members.items() if m.size > MAX_SDIST_FILE]
    assert too_large == []
    stray = [
        name
        for name in members
        if name.endswith((".whl", ".sqlite3", ".pyc")) or name.startswith((".venv/", "instance/"))
    ]
    assert stray == []


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> Path:
    """A fresh venv, outside the repository, with only the wheel and its dependencies."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin/pip"), "install", "--quiet", str(built["wheel"])],
        check=True,
        capture_output=True,
    )
    return venv / "bin" / "shelfmark"


def _text(html: str) -> str:
    """What a reader sees: the markup (such as <mark> around matched words) taken out."""
    return re.sub(r"<[^>]+>", "", html)


def _clean_environment(database: Path) -> dict[str, str]:
    """No PYTHONPATH and no development venv on PATH: only what the wheel installed."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["PATH"] = "/usr/bin:/bin"
    env["SHELFMARK_DATABASE"] = str(database)
    env["SHELFMARK_SECRET_KEY"] = "packaging-test-secret"
    return env


def test_the_installed_wheel_sets_up_and_serves_the_demo_library(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _clean_environment(elsewhere / "library.sqlite3")

    def shelfmark(*args: str) -> str:
        result = subprocess.run(
            [str(installed), *args], cwd=elsewhere, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert shelfmark("--version").strip() == "shelfmark 0.1.0"
    shelfmark("init-db")
    shelfmark("demo-data", "--books", "200", "--patrons", "20")

    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [str(installed), "serve", "--port", str(port)],
            cwd=elsewhere,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, server, log_path)
        with urllib.request.urlopen(f"{base}/search?q=gatsby", timeout=10) as response:
            page = response.read().decode()
        assert "<html" in page and "The Great Gatsby" in _text(page)

        request = urllib.request.Request(f"{base}/search?q=gatsby", headers={"HX-Request": "true"})
        with urllib.request.urlopen(request, timeout=10) as response:
            fragment = response.read().decode()
            assert "HX-Request" in response.headers["Vary"]
        assert "The Great Gatsby" in _text(fragment) and "<html" not in fragment

        with urllib.request.urlopen(f"{base}/static/shelfmark.css", timeout=10) as response:
            assert response.status == 200
            assert response.read() == (REPO / "static" / "shelfmark.css").read_bytes()
    finally:
        server.terminate()
        server.wait(timeout=15)
    assert "Traceback" not in log_path.read_text(errors="replace")
