"""Load test of ``lamina serve``: 32 concurrent clients for 30 s against one worker serving a small MLP.

The server runs under uvicorn in its own process (torch at one thread, loopback only); the load generator runs
in another process (``--processes N``: N processes sharing the clients) with 32 concurrent httpx clients, each
posting one row to ``/predict`` in a loop. Reported: 5xx count, other errors (connection errors and non-200
answers), p50/p99 latency, requests per second, and PASS/FAIL against the targets p99 < 250 ms and >= 500
requests/s with zero 5xx and errors. One httpx process tops out near one CPU core (it costs more per request
than the server does), so on a small machine the generator, not the server, can be the limit.

    python -m benchmarks.serve_load [--seconds 30] [--clients 32] [--processes 1] [--port 8765]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVER = "from lamina.serve import serve; import sys; serve(sys.argv[1], port=int(sys.argv[2]), threads=1)"


def build_model(folder: Path) -> str:
    """A small MLP (16 -> 64 -> 64 -> 4) saved as a lamina model directory."""
    import torch

    import lamina

    torch.manual_seed(0)
    model = lamina.Sequential([lamina.layers.Dense(64, activation="relu"), lamina.layers.Dense(64, activation="relu"),
                               lamina.layers.Dense(4)])
    model.build(torch.ones(1, 16))
    return str(model.save(folder / "mlp"))


async def _client(client: object, url: str, stop: float, latencies: list[float], codes: dict[str, int]) -> None:
    body = {"inputs": [[0.1 * i for i in range(16)]]}
    while time.perf_counter() < stop:
        started = time.perf_counter()
        try:
            response = await client.post(url, json=body)  # type: ignore[attr-defined]
            key = str(response.status_code)
        except Exception as exc:  # connection errors count as errors
            key = type(exc).__name__
        latencies.append(time.perf_counter() - started)
        codes[key] = codes.get(key, 0) + 1


async def _load(url: str, seconds: float, clients: int) -> dict[str, object]:
    import httpx

    latencies: list[float] = []
    codes: dict[str, int] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*[_client(client, url, started + seconds, latencies, codes) for _ in range(clients)])
        elapsed = time.perf_counter() - started
    return {"latencies": latencies, "seconds": elapsed, "codes": codes}


def _summary(parts: list[dict]) -> dict[str, object]:
    """Merge the generator processes' results: codes, p50/p99 and requests per second."""
    latencies = sorted(t for part in parts for t in part["latencies"])
    codes: dict[str, int] = {}
    for part in parts:
        for code, n in part["codes"].items():
            codes[code] = codes.get(code, 0) + n
    elapsed = max(part["seconds"] for part in parts)
    return {"requests": len(latencies), "seconds": round(elapsed, 2), "codes": codes,
            "p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
            "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 1),
            "requests_per_s": round(len(latencies) / elapsed, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--processes", type=int, default=1, help="load generator processes sharing the clients")
    parser.add_argument("--generator", help=argparse.SUPPRESS)  # internal: run the load generator only
    args = parser.parse_args()
    if args.generator:
        print(json.dumps(asyncio.run(_load(args.generator, args.seconds, args.clients))))
        return 0
    env = {**os.environ, "LAMINA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_model(Path(tmp))
        server = subprocess.Popen([sys.executable, "-c", SERVER, folder, str(args.port)], env=env)
        try:
            import httpx

            base = f"http://127.0.0.1:{args.port}"
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/v2/health/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            command = [sys.executable, "-m", "benchmarks.serve_load", "--generator", f"{base}/predict",
                       "--seconds", str(args.seconds), "--clients", str(args.clients // args.processes)]
            generators = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
                          for _ in range(args.processes)]
            parts = [json.loads(generator.communicate()[0]) for generator in generators]
        finally:
            server.terminate()
            server.wait(10)
    result = _summary(parts)
    codes = result["codes"]
    server_errors = sum(n for code, n in codes.items() if code.isdigit() and int(code) >= 500)
    errors = sum(n for code, n in codes.items() if code != "200")
    ok = server_errors == 0 and errors == 0 and result["p99_ms"] < 250 and result["requests_per_s"] >= 500
    print(f"requests {result['requests']} in {result['seconds']} s, codes {codes}")
    print(f"5xx {server_errors}, errors {errors}, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
          f"{result['requests_per_s']} req/s, load average {os.getloadavg()[0]:.2f}")
    print(f"{'PASS' if ok else 'FAIL'}: targets zero 5xx/errors, p99 < 250 ms, >= 500 req/s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
