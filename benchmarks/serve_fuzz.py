"""Fuzz ``lamina serve`` with schemathesis against its own OpenAPI schema: zero server errors is the target.

Builds a small table model (a tabular MLP via ``lamina.advise``), starts ``lamina serve`` on a free loopback
port in a subprocess, and runs ``st run`` twice with a bounded number of examples per operation: once with the
``not_a_server_error`` check (the target: every generated request answered without a 5xx), once with all default
checks (schema conformance: reported, not a target). Prints both summaries and PASS/FAIL for the target.

    pip install -e ".[serve,bench]" && python -m benchmarks.serve_fuzz [--max-examples 100]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

import lamina


def _model(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(
        {"a": rng.normal(size=300), "b": rng.normal(size=300), "c": rng.choice(["x", "y"], 300)}
    )
    label = np.where(x["a"] + (x["c"] == "x") > 0.5, "yes", "no")
    advice = lamina.advise(
        lamina.data.load(x.assign(label=label), target="label"), time_budget=3, keep=True
    )
    return advice.fitted["MLP (lamina)"].save(folder / "table_mlp")


def _run(url: str, examples: int, checks: list[str]) -> tuple[int, str]:
    command = ["st", "run", url, "--max-examples", str(examples), *checks]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    return done.returncode, done.stdout[-2500:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve_fuzz", description=__doc__)
    parser.add_argument(
        "--max-examples", type=int, default=100, help="examples per operation and phase"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch, socket.socket() as probe:
        model = _model(Path(scratch))
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        server = subprocess.Popen(
            [sys.executable, "-m", "lamina.cli", "serve", str(model), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ),
        )
        try:
            for _ in range(120):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1)
                    break
                except OSError:
                    time.sleep(0.5)
            url = f"http://127.0.0.1:{port}/openapi.json"
            target, summary = _run(url, args.max_examples, ["--checks", "not_a_server_error"])
            print("## not_a_server_error (the target)\n" + summary)
            _, conformance = _run(url, args.max_examples, [])
            print("## all default checks (reported)\n" + conformance)
        finally:
            server.kill()
    print(f"\nzero server errors: {'PASS' if target == 0 else 'FAIL'}")
    return target


if __name__ == "__main__":
    sys.exit(main())
