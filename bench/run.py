"""What ``make bench`` runs: the quick sizes of every benchmark script.

Each script writes its own section of docs/benchmarks.md. ``--full`` passes
through to the scripts that have a larger size, measuring a million titles
(about ten minutes more, the first time mostly generating the data).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Benchmark modules in the order they run, and whether each takes ``--full``.
SCRIPTS = (
    ("bench.search", True),
    ("bench.circulation", False),
    ("bench.reminders", True),
    ("bench.soak", True),
    ("bench.printing", False),
    ("bench.stocktake", False),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark (quick sizes by default).")
    parser.add_argument("--full", action="store_true", help="also measure a million titles")
    args = parser.parse_args(argv)
    failed = []
    for name, has_full_size in SCRIPTS:
        module = importlib.import_module(name)
        print(f"== {name}", file=sys.stderr)
        if module.main(["--full"] if args.full and has_full_size else []) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
