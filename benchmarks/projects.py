"""Run the example projects (``examples/projects/*/lamina.yaml``) from goal to verdict.

Each project runs with every stage forced, in a copy under a temporary folder, and the table shows
its verdict, the model chosen, the seconds and the load average. A project PASSES when ``lamina run``
completes with a verdict (met or not: the verdict itself is the project's finding).

    python -m benchmarks.projects [--only adult|mnist|sentiment] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

import lamina

PROJECTS = Path(__file__).resolve().parents[1] / "examples" / "projects"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.projects", description=__doc__)
    parser.add_argument("--only", help="one project folder name")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = parser.parse_args(argv)
    os.environ.setdefault(
        "LAMINA_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "datasets")
    )
    torch.set_num_threads(args.threads)
    rows, failed = [], 0
    for folder in sorted(PROJECTS.iterdir()):
        if args.only and folder.name != args.only:
            continue
        with tempfile.TemporaryDirectory() as scratch:
            shutil.copytree(
                folder, Path(scratch) / folder.name, ignore=shutil.ignore_patterns("runs")
            )
            project = lamina.Project.load(Path(scratch) / folder.name)
            started = time.perf_counter()
            try:
                verdict = project.run(force=True, verbose=1)["evaluate"]["verdict"]
            except Exception as error:  # a failed project is a FAIL row, not a crash of the table
                failed += 1
                rows.append(
                    f"| {folder.name} | {type(error).__name__}: {error} | - | FAIL | "
                    f"{time.perf_counter() - started:.0f} | {os.getloadavg()[0]:.2f} |"
                )
                continue
            rows.append(
                f"| {folder.name} | {verdict['sentence']} | {verdict['latency_ms']:.4f} | PASS | "
                f"{time.perf_counter() - started:.0f} | {os.getloadavg()[0]:.2f} |"
            )
    print("\n| project | verdict | ms/row | result | seconds | load |\n|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
