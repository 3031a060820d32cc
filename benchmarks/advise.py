"""``lamina.advise`` on three data sets, with a PASS/FAIL per expectation.

* UCI Adult (its published split): when HistGradientBoosting scores higher than the tabular MLP, the
  recommendation must not be the network.
* MNIST (its published split): the CNN must be recommended.
* Sentiment Labelled Sentences (the loader's 80/20 split): TF-IDF + logistic regression is reported
  with 10-fold CV on the training rows, expected in [0.79, 0.83], against the GRU.

Each run prints the Advice table, the seconds it took and the load average (``os.getloadavg``).
Torch and the BLAS/OpenMP pools run at one thread.

    python -m benchmarks.advise [--only adult|mnist|sentiment] [--budget 120]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from lamina.advisor import advise

import lamina


def _row(advice: Any, name: str) -> dict[str, Any]:
    return next(r for r in advice.rows if r["candidate"].startswith(name))


def adult(budget: float) -> list[tuple[str, bool]]:
    advice = advise(lamina.datasets.load("adult"), time_budget=budget, verbose=1)
    print(advice)
    boosting, network = _row(advice, "HistGradientBoosting"), _row(advice, "MLP")
    honest = boosting["value"] <= network["value"] or advice.winner != network["candidate"]
    return [
        (
            f"HGB {boosting['value']:.4f} vs MLP {network['value']:.4f}: recommendation is "
            f"{advice.winner!r}, not the network when HGB is higher",
            honest,
        )
    ]


def mnist(budget: float) -> list[tuple[str, bool]]:
    advice = advise(lamina.datasets.load("mnist"), time_budget=budget, verbose=1)
    print(advice)
    network = _row(advice, "CNN")
    return [
        (
            f"CNN {network['value']:.4f} is recommended (winner {advice.winner!r})",
            advice.winner == network["candidate"],
        )
    ]


def sentiment(budget: float) -> list[tuple[str, bool]]:
    advice = advise(lamina.datasets.load("sentiment"), time_budget=budget, verbose=1)
    print(advice)
    linear, network = _row(advice, "TF-IDF"), _row(advice, "GRU")
    cv = linear["cv_mean"]
    text = "not run" if cv is None else f"{cv:.4f} +- {linear['cv_sd']:.4f}"
    return [
        (
            f"TF-IDF + LR 10-fold CV {text} in [0.79, 0.83] (test {linear['value']:.4f}; GRU "
            f"{network['value']:.4f}; winner {advice.winner!r})",
            cv is not None and 0.79 <= cv <= 0.83,
        )
    ]


RUNS = {"adult": adult, "mnist": mnist, "sentiment": sentiment}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.advise", description=__doc__)
    parser.add_argument("--only", choices=sorted(RUNS), help="one data set")
    parser.add_argument(
        "--budget", type=float, default=120.0, help="the network's time budget in seconds"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault(
        "LAMINA_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "datasets")
    )
    torch.set_num_threads(1)
    from threadpoolctl import threadpool_limits

    failed = 0
    with threadpool_limits(1):
        for name, run in RUNS.items():
            if args.only not in (None, name):
                continue
            print(f"\n## {name}", flush=True)
            start = time.perf_counter()
            checks = run(args.budget)
            seconds, load = time.perf_counter() - start, os.getloadavg()
            for text, passed in checks:
                failed += not passed
                print(f"{'PASS' if passed else 'FAIL'}: {text}")
            print(
                f"{name}: {seconds:.0f} s, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
                flush=True,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
