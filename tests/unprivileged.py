"""Running a server without root's power to write any file, for the read-only tests.

Tests here run as root in CI and on the development machines, and root may write
a file whatever its mode says: so the server under test runs as ``nobody`` then.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def as_another_user() -> list[str]:
    """A command prefix that runs a server without root's power to write any file
    (util-linux's setpriv drops root's capabilities with its user id)."""
    if os.geteuid() == 0:
        return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    return []


@contextmanager
def shared_folder() -> Iterator[Path]:
    """A folder under /tmp that the unprivileged server may enter (pytest's tmp_path is 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="shelfmark-ro-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def make_read_only(path: Path) -> None:
    """``path`` can be read but not written by the server of ``as_another_user``."""
    if os.geteuid() != 0:
        path.chmod(0o444 if path.is_file() else 0o555)
