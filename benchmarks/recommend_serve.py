"""Load test of ``POST /recommend``: 32 concurrent clients for 30 s against one worker, per model.

EASE (l2 = 50) and a lamina MatrixFactorization (64 factors and an item bias, BPR, 20 epochs;
served through its item vectors) are each fitted on the protocol's training split of Online
Retail (``benchmarks.recommend.load_split``), saved with ``save_recommender`` and served by
``lamina.deploy.recommend.serve_recommender`` under uvicorn in its own process (one worker, torch
at one thread, loopback only). The load generator runs in another process: 32 clients, each on
its own keep-alive connection (the lean client of ``benchmarks/_http.py``), posting in a loop a
mix of bodies drawn once with a seed: 60% known customers, 25% anonymous baskets (1 to 5 items
one customer bought) and 15% unknown customers with no basket (popular items), all with
k = 10. Reported: counts by status and by kind, p50/p99 latency, requests per second, and
PASS/FAIL against issue 18's targets: p99 < 50 ms, >= 500 requests/s, 0 errors (any non-200
answer or failed exchange). ``--log`` also writes the JSON-lines request log (fsync'd per group).

    LAMINA_DATA=../shared/datasets python -m benchmarks.recommend_serve [--seconds 30] [--clients 32] [--log] [--models ease,mf]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import _http

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "LAMINA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
SERVER = (
    "from lamina.deploy.recommend import serve_recommender; import json, sys; "
    "serve_recommender(sys.argv[1], port=int(sys.argv[2]), threads=1, **json.loads(sys.argv[3]))"
)
SHARES = {"known customer": 0.60, "basket": 0.25, "unknown customer": 0.15}
TARGETS = {"p99_ms": 50.0, "requests_per_s": 500.0}
MODELS = {"ease": "EASE (l2 = 50)", "mf": "MatrixFactorization (64 factors, BPR, 20 epochs)"}


def saved(name: str, train: object) -> str:
    """Fit ``name`` ("ease" or "mf") on ``train`` and save it in a fresh temporary folder."""
    from lamina.models import MatrixFactorization
    from lamina.project.recommender_files import save_recommender
    from lamina.project.recommenders import EASE

    started = time.perf_counter()
    if name == "ease":
        model = EASE(l2=50.0).fit(train)
    else:
        model = MatrixFactorization(embedding_dim=64).compile(learning_rate=0.01)
        model.fit(train, epochs=20, batch_size=1024, verbose=0, seed=0)
    print(f"{MODELS[name]} fitted in {time.perf_counter() - started:.1f} s")
    return save_recommender(model, Path(tempfile.mkdtemp(prefix="lamina-rec-")) / name)


def bodies(train: object, count: int = 4000, seed: int = 0) -> list[tuple[str, bytes]]:
    """``count`` request bodies (kind, JSON bytes) in the mix of SHARES."""
    rng = np.random.default_rng(seed)
    table = train.table  # type: ignore[attr-defined]
    customers = [int(user) for user in train.users]  # type: ignore[attr-defined]
    # baskets: items one customer bought (real co-purchases)
    histories = [list(items) for _, items in table.groupby("user")["item"]]
    made = []
    for kind in rng.choice(list(SHARES), size=count, p=list(SHARES.values())):
        if kind == "known customer":
            body = {"customer": customers[rng.integers(len(customers))], "k": 10}
        elif kind == "basket":
            history = histories[rng.integers(len(histories))]
            size = min(len(history), int(rng.integers(1, 6)))
            picked = rng.choice(len(history), size=size, replace=False)
            body = {"basket": [str(history[i]) for i in picked], "k": 10}
        else:
            body = {"customer": int(rng.integers(100_000, 200_000)), "k": 10}
        made.append((str(kind), json.dumps(body).encode()))
    return made


def start_server(folder: str, port: int, **options: object) -> subprocess.Popen:
    """The recommender server in its own process, once it answers ready."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, folder, str(port), json.dumps(options)], env=ENV, cwd=ROOT
    )
    for _ in range(1200):
        if asyncio.run(_http.get_status("127.0.0.1", port, "/v2/health/ready")) == 200:
            return server
        if server.poll() is not None:
            break
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(
        f"The server on port {port} did not become ready (exit code {server.poll()})."
    )


async def _client(port: int, mix: list, offset: int, stop: float, out: dict) -> None:
    connection = _http.Connection("127.0.0.1", port)
    turn = offset
    while time.perf_counter() < stop:
        kind, body = mix[turn % len(mix)]
        turn += 1
        started = time.perf_counter()
        try:
            status, _, _ = await connection.request("POST", "/recommend", body)
            key = str(status)
        except _http.ERRORS as exc:
            key = type(exc).__name__
            await asyncio.sleep(0.01)
        out.setdefault(key, []).append(time.perf_counter() - started)
        out.setdefault(f"kind:{kind}", []).append(time.perf_counter() - started)
    connection.close()


async def _load(port: int, mix: list, seconds: float, clients: int) -> dict:
    out: dict[str, list[float]] = {}
    started = time.perf_counter()
    stride = len(mix) // clients
    await asyncio.gather(
        *[_client(port, mix, i * stride, started + seconds, out) for i in range(clients)]
    )
    return {"latencies": out, "seconds": time.perf_counter() - started}


def run(folder: str, mix: list, seconds: float, clients: int, port: int, log: bool) -> dict:
    """Serve the recommender in ``folder``, load it with ``mix``, and summarise."""
    options = {"log_path": str(Path(folder).parent / "recommendations.jsonl")} if log else {}
    server = start_server(folder, port, **options)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump([[kind, body.decode()] for kind, body in mix], file)
    try:
        generator = subprocess.run(
            [sys.executable, "-m", "benchmarks.recommend_serve", "--generator", file.name,
             "--port", str(port), "--seconds", str(seconds), "--clients", str(clients)],
            env=ENV, cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        part = json.loads(generator.stdout)
    finally:
        server.terminate()
        server.wait(30)
        records = 0
        if log:
            with open(options["log_path"], "rb") as lines:
                records = sum(1 for _ in lines)
        shutil.rmtree(Path(folder).parent, ignore_errors=True)
        os.unlink(file.name)
    latencies = part["latencies"]
    codes = {key: len(v) for key, v in latencies.items() if not key.startswith("kind:")}
    every = [t for key, v in latencies.items() if not key.startswith("kind:") for t in v]
    kinds = {
        key[5:]: (len(v), _http.percentile(v, 0.5), _http.percentile(v, 0.99))
        for key, v in latencies.items()
        if key.startswith("kind:")
    }
    result = {
        "requests": len(every),
        "seconds": round(part["seconds"], 2),
        "codes": codes,
        "kinds": kinds,
        "errors": sum(n for code, n in codes.items() if code != "200"),
        "p50_ms": _http.percentile(every, 0.5),
        "p99_ms": _http.percentile(every, 0.99),
        "requests_per_s": round(len(every) / part["seconds"], 1),
        "load_average": round(os.getloadavg()[0], 2),
        "logged": log,
        "records": records,
    }
    result["ok"] = (
        result["errors"] == 0
        and result["p99_ms"] is not None
        and result["p99_ms"] < TARGETS["p99_ms"]
        and result["requests_per_s"] >= TARGETS["requests_per_s"]
    )
    return result


def main() -> int:
    """Run the load test and print its table; 0 when every target passes, 1 otherwise."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--log", action="store_true", help="write the request log while loading")
    parser.add_argument("--models", default="ease,mf", help="comma-separated: ease, mf")
    parser.add_argument("--generator", help=argparse.SUPPRESS)  # internal: the load generator
    args = parser.parse_args()
    if args.generator:
        mix = [(kind, body.encode()) for kind, body in json.loads(Path(args.generator).read_text())]
        print(json.dumps(asyncio.run(_load(args.port, mix, args.seconds, args.clients))))
        return 0
    from benchmarks.recommend import load_split

    _, train, _ = load_split()
    mix = bodies(train)
    results = []
    for name in args.models.split(","):
        r = run(saved(name, train), mix, args.seconds, args.clients, args.port, args.log)
        results.append((name, r))
        logged = f" with the request log ({r['records']} records)" if r["logged"] else ""
        print(
            f"{MODELS[name]}: {args.clients} clients for {r['seconds']} s{logged}: "
            f"{r['requests']} requests, codes {r['codes']}, load average {r['load_average']} "
            "(2 cores, shared)"
        )
        print("\n| kind | requests | p50 ms | p99 ms |\n|---|--:|--:|--:|")
        for kind, (n, p50, p99) in sorted(r["kinds"].items()):
            print(f"| {kind} | {n} | {p50} | {p99} |")
        print()
    print("| model | errors | p50 ms | p99 ms (< 50) | requests/s (>= 500) | result |")
    print("|---|--:|--:|--:|--:|---|")
    for name, r in results:
        print(
            f"| {MODELS[name]} | {r['errors']} | {r['p50_ms']} | {r['p99_ms']} | "
            f"{r['requests_per_s']} | {'PASS' if r['ok'] else 'FAIL'} |"
        )
    ok = all(r["ok"] for _, r in results)
    print(f"\n{'PASS' if ok else 'FAIL'}: p99 < 50 ms, >= 500 req/s, 0 errors for every model")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
