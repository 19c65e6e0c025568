"""The repository holds source, not build products: no large files slip in again."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import REPO

MAX_TRACKED_FILE = 2 * 1024 * 1024


def test_no_tracked_file_is_larger_than_2_mb():
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True
    ).stdout.decode()
    sizes = {
        name: (REPO / name).stat().st_size
        for name in filter(None, listed.split("\0"))
        if (REPO / name).is_file()
    }
    assert sizes, "git listed no files"
    assert {name: size for name, size in sizes.items() if size > MAX_TRACKED_FILE} == {}
