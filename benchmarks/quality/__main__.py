"""Run the quality rows: ``python -m benchmarks.quality [--only NAME]``.

Prints a markdown table (row | measured | target | PASS/FAIL | seconds) and exits 1 if a row fails.
``--only`` matches a family file name (``mlp``) or a substring of a row name.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
from pathlib import Path

import torch

from benchmarks.quality import Row


def discover() -> list[tuple[str, Row]]:
    """Every ``(family file, row)`` from the modules of this package, in file-name order."""
    package = Path(__file__).parent
    rows: list[tuple[str, Row]] = []
    for info in sorted(pkgutil.iter_modules([str(package)]), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"benchmarks.quality.{info.name}")
        rows.extend((info.name, row) for row in getattr(module, "ROWS", []))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__)
    parser.add_argument("--only", help="a family file name (e.g. mlp) or part of a row name")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = parser.parse_args(argv)
    # The data sets live beside the repository unless LAMINA_DATA says otherwise.
    os.environ.setdefault(
        "LAMINA_DATA", str(Path(__file__).resolve().parents[3] / "shared" / "datasets")
    )
    # Rows are specified for 2 CPU cores; --threads 1 gives the same values on a busy machine (slower rows).
    torch.set_num_threads(args.threads)
    rows = [
        (family, row)
        for family, row in discover()
        if args.only is None or args.only == family or args.only.lower() in row.name.lower()
    ]
    if not rows:
        print(f"No quality row matches --only {args.only!r}.", file=sys.stderr)
        return 2
    print("| row | measured | target | result | seconds |")
    print("|---|---|---|---|---|")
    failed = 0
    for _, row in rows:
        start = time.perf_counter()
        value = row.fn()
        seconds = time.perf_counter() - start
        passed = row.passed(value)
        failed += passed is False
        verdict = {True: "PASS", False: "FAIL", None: "-"}[passed]
        print(
            f"| {row.name} | {value:.4f} | {row.target_text()} | {verdict} | {seconds:.1f} |",
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
