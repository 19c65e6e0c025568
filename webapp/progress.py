"""A dependency-free progress bar for long command-line work (imports, demo data, benchmarks)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints ``label [#####.....] 512/1,000 (51%) 3.2s`` on one line, at most ~10 times a second.

    When the stream is not a terminal (CI logs), it prints a plain line at
    every tenth of the way instead, so logs stay short.
    """

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(total, 0)
        self.done = 0
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._last_decile = -1
        self._tty = self.stream.isatty()

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if self._tty:
            if now - self._last_draw >= 0.1 or self.done >= self.total:
                self._last_draw = now
                self._draw(now, end="\r")
        elif self.total:
            decile = min(10, self.done * 10 // self.total)
            if decile != self._last_decile:
                self._last_decile = decile
                self._draw(now, end="\n")

    def finish(self) -> None:
        if self._tty:
            self._draw(time.monotonic(), end="\n")

    def _draw(self, now: float, end: str) -> None:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(fraction * 30)
        bar = "#" * filled + "." * (30 - filled)
        self.stream.write(
            f"{self.label} [{bar}] {self.done:,}/{self.total:,} ({fraction:.0%}) "
            f"{now - self.started:.1f}s{end}"
        )
        self.stream.flush()
