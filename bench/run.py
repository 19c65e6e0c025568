"""What ``make bench`` runs: the quick sizes of every benchmark script present.

Each script writes its own section of docs/benchmarks.md. ``--full`` passes
through, measuring a million titles (about ten minutes more, the first time
mostly generating the data).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Benchmark modules in the order they run; those not present are skipped, so
# each can land on its own.
SCRIPTS = ("bench.search", "bench.circulation", "bench.reminders", "bench.soak")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark (quick sizes by default).")
    parser.add_argument("--full", action="store_true", help="also measure a million titles")
    args = parser.parse_args(argv)
    failed = []
    for name in SCRIPTS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            continue
        print(f"== {name}", file=sys.stderr)
        if module.main(["--full"] if args.full else []) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
