"""Load test of ``lamina serve``: 32 concurrent clients for 30 s against one worker serving a small MLP.

The server runs under uvicorn in its own process (torch at one thread, loopback only); the load generator runs
in another process (``--processes N``: N processes sharing the clients, default 1) with 32 concurrent clients,
each posting one row to ``/predict`` in a loop on its own keep-alive connection. The default client is the lean
asyncio HTTP/1.1 client of ``benchmarks/_http.py``; ``--client httpx`` uses one ``httpx.AsyncClient`` instead
(it costs more CPU per request than the server does, so one httpx process, not the server, is the limit on a
small machine). Reported: counts by status, 5xx count, other errors (connection errors and non-200 answers),
p50/p99 latency, requests per second, and PASS/FAIL against the targets p99 < 250 ms and >= 500 requests/s
with zero 5xx and errors.

    python -m benchmarks.serve_load [--seconds 30] [--clients 32] [--processes 1] [--client lean|httpx]
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
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from benchmarks import _http

if TYPE_CHECKING:
    import httpx

SERVER = (
    "from lamina.serve import serve; import json, sys; "
    "serve(sys.argv[1], port=int(sys.argv[2]), threads=1, **json.loads(sys.argv[3]))"
)
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "LAMINA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
BODY = json.dumps({"inputs": [[round(0.1 * i, 1) for i in range(16)]]}).encode()


def build_model(folder: Path) -> str:
    """A small MLP (16 -> 64 -> 64 -> 4) saved as a lamina model directory."""
    import torch

    import lamina

    torch.manual_seed(0)
    model = lamina.Sequential(
        [
            lamina.layers.Dense(64, activation="relu"),
            lamina.layers.Dense(64, activation="relu"),
            lamina.layers.Dense(4),
        ]
    )
    model.build(torch.ones(1, 16))
    return str(model.save(folder / "mlp"))


def start_server(folder: str, port: int, **options: object) -> subprocess.Popen:
    """``lamina.serve.serve`` in its own process (``options``: ``create_app`` keywords), once it answers ready."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, folder, str(port), json.dumps(options)], env=ENV, cwd=ROOT
    )
    for _ in range(600):
        if asyncio.run(_http.get_status("127.0.0.1", port, "/v2/health/ready")) == 200:
            return server
        if server.poll() is not None:
            break
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(
        f"The server on port {port} did not become ready (exit code {server.poll()})."
    )


async def _httpx_client(
    client: httpx.AsyncClient, url: str, stop: float, latencies: dict[str, list[float]]
) -> None:
    while time.perf_counter() < stop:
        started = time.perf_counter()
        try:
            response = await client.post(
                url, content=BODY, headers={"content-type": "application/json"}
            )
            key = str(response.status_code)
        except Exception as exc:  # connection errors count as errors
            key = type(exc).__name__
        latencies.setdefault(key, []).append(time.perf_counter() - started)


async def _load(url: str, seconds: float, clients: int, kind: str) -> dict[str, object]:
    """Run ``clients`` virtual clients against ``url`` for ``seconds``: latencies by outcome and the elapsed time."""
    latencies: dict[str, list[float]] = {}
    started = time.perf_counter()
    if kind == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            await asyncio.gather(
                *[_httpx_client(client, url, started + seconds, latencies) for _ in range(clients)]
            )
    else:
        parts = urlsplit(url)
        await asyncio.gather(
            *[
                _http.client_loop(
                    parts.hostname or "127.0.0.1",
                    parts.port or 80,
                    parts.path,
                    BODY,
                    started + seconds,
                    latencies,
                )
                for _ in range(clients)
            ]
        )
    return {"latencies": latencies, "seconds": time.perf_counter() - started}


def _summary(parts: list[dict]) -> dict[str, object]:
    """Merge the generator processes' results: codes, p50/p99 and requests per second."""
    latencies = [t for part in parts for times in part["latencies"].values() for t in times]
    codes: dict[str, int] = {}
    for part in parts:
        for code, times in part["latencies"].items():
            codes[code] = codes.get(code, 0) + len(times)
    elapsed = max(part["seconds"] for part in parts)
    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "codes": codes,
        "p50_ms": _http.percentile(latencies, 0.5),
        "p99_ms": _http.percentile(latencies, 0.99),
        "requests_per_s": round(len(latencies) / elapsed, 1),
    }


def run_load(
    seconds: float = 30,
    clients: int = 32,
    processes: int = 1,
    port: int = 8765,
    client: str = "lean",
) -> dict[str, object]:
    """Serve the MLP, load it from ``processes`` generator processes; the summary with ``ok`` (all targets met)."""
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(build_model(Path(tmp)), port)
        try:
            command = [
                sys.executable,
                "-m",
                "benchmarks.serve_load",
                "--generator",
                f"http://127.0.0.1:{port}/predict",
                "--seconds",
                str(seconds),
                "--clients",
                str(clients // processes),
                "--client",
                client,
            ]
            generators = [
                subprocess.Popen(command, env=ENV, cwd=ROOT, stdout=subprocess.PIPE, text=True)
                for _ in range(processes)
            ]
            parts = [json.loads(generator.communicate()[0]) for generator in generators]
        finally:
            server.terminate()
            server.wait(10)
    result = _summary(parts)
    codes: dict[str, int] = result["codes"]
    result["server_errors"] = sum(
        n for code, n in codes.items() if code.isdigit() and int(code) >= 500
    )
    result["errors"] = sum(n for code, n in codes.items() if code != "200")
    result["load_average"] = round(os.getloadavg()[0], 2)
    result["ok"] = (
        result["server_errors"] == 0
        and result["errors"] == 0
        and result["p99_ms"] is not None
        and result["p99_ms"] < 250
        and result["requests_per_s"] >= 500
    )
    return result


def main() -> int:
    """Run the load test and print its table; 0 when every target passes, 1 otherwise."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--processes", type=int, default=1, help="load generator processes sharing the clients"
    )
    parser.add_argument(
        "--client", choices=["lean", "httpx"], default="lean", help="the load generator's client"
    )
    parser.add_argument(
        "--generator", help=argparse.SUPPRESS
    )  # internal: run the load generator only
    args = parser.parse_args()
    if args.generator:
        print(
            json.dumps(asyncio.run(_load(args.generator, args.seconds, args.clients, args.client)))
        )
        return 0
    r = run_load(args.seconds, args.clients, args.processes, args.port, args.client)
    rows = [
        ("5xx answers", r["server_errors"], "0", r["server_errors"] == 0),
        ("errors (non-200 + connection)", r["errors"], "0", r["errors"] == 0),
        ("p99 latency (ms)", r["p99_ms"], "< 250", r["p99_ms"] is not None and r["p99_ms"] < 250),
        ("requests/s", r["requests_per_s"], ">= 500", r["requests_per_s"] >= 500),
    ]
    print(
        f"{args.clients} clients, {args.processes} {args.client} generator process(es): {r['requests']} requests "
        f"in {r['seconds']} s, codes {r['codes']}, p50 {r['p50_ms']} ms, load average {r['load_average']}"
    )
    print(
        f"| {'target':<30} | {'measured':>9} | {'goal':>6} | result |\n|{'-' * 32}|{'-' * 11}|{'-' * 8}|{'-' * 8}|"
    )
    for name, value, goal, ok in rows:
        print(f"| {name:<30} | {value!s:>9} | {goal:>6} | {'PASS' if ok else 'FAIL':<6} |")
    print(f"{'PASS' if r['ok'] else 'FAIL'}: targets zero 5xx/errors, p99 < 250 ms, >= 500 req/s")
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
