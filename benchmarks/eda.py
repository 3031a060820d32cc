"""``lamina.eda.profile`` on all 541,909 rows of UCI Online Retail: target 15 seconds on 2 CPU cores.

Three runs, each timed without loading the data (``perf_counter`` around ``profile`` only):

* ``Dataset``: ``lamina.data.load("online_retail")`` as it comes, 431,673 training rows profiled and the
  110,236 test rows (from 2011-11-01) compared with them in the shift section;
* ``whole table``: the 541,909 rows as one DataFrame, InvoiceDate as the time column;
* ``whole table, target``: the same with ``Country`` as the target (mutual information, leakage checks).

Torch and the BLAS/OpenMP pools run at ``--threads`` threads (default 2). The load average is printed with
the table (``os.getloadavg``): a busy machine makes the seconds longer.

    python -m benchmarks.eda [--threads 2] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 15.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.eda",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--threads", type=int, default=2, help="torch and BLAS threads")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the best is reported")
    args = parser.parse_args(argv)
    os.environ.setdefault("LAMINA_DATA", str(ROOT.parent / "shared" / "datasets"))
    sys.path.insert(0, str(ROOT))
    import torch
    from lamina.eda import profile
    from threadpoolctl import threadpool_limits

    import lamina

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    dataset = lamina.data.load("online_retail")
    table = lamina.datasets.load("online_retail").frame
    print(
        f"loaded {len(table):,} rows in {time.perf_counter() - started:.1f} s (not counted)",
        flush=True,
    )
    cases = [
        (
            "Dataset (train + test shift)",
            len(dataset) + len(dataset.x_test),
            lambda: profile(dataset),
        ),
        ("whole table", len(table), lambda: profile(table, time_column="InvoiceDate")),
        ("whole table, target Country", len(table), lambda: profile(table, "Country")),
    ]
    print("\n| case | rows | columns | seconds | target | result |\n|---|---|---|---|---|---|")
    failed = 0
    with threadpool_limits(args.threads):
        for name, rows, run in cases:
            seconds = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                report = run()
                seconds.append(time.perf_counter() - start)
            passed = min(seconds) <= TARGET_SECONDS
            failed += not passed
            print(
                f"| {name} | {rows:,} | {report.overview['columns']} | {min(seconds):.1f} | {TARGET_SECONDS:.0f} s "
                f"| {'PASS' if passed else 'FAIL'} |",
                flush=True,
            )
    load = os.getloadavg()
    print(
        f"\nthreads {args.threads}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"{len(report.findings)} findings in the last profile:"
    )
    for finding in report.findings:
        print(f"  - {finding}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
