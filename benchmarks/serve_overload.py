"""Overload test of ``lamina serve``: 256 clients for 20 s against one worker with a queue bound of 64.

The server (the small MLP of ``serve_load``, uvicorn in its own process, torch at one thread, ``queue_size=64``,
``max_batch_size=32``) is loaded by one generator process running 256 concurrent clients of the lean asyncio
client (``benchmarks/_http.py``), each posting one row to ``/predict`` in a loop on its own keep-alive
connection. A client answered 429 or 503 does not wait the Retry-After: it sleeps 10 ms and sends again, to keep
the pressure on. The targets and how each is measured:

- excess gets 429/503 quickly: some requests are refused, and the p99 latency of the 429/503 answers is under
  250 ms, the latency objective of the load target: a refusal is never slower than the service promises to answer.
  The server refuses a full queue before reading the body, yet 256 clients that always hold a request open keep
  one event loop busy, so a refusal still waits its turn on the loop (the table shows the measured p99).
- accepted requests finish: no 5xx other than 503 with Retry-After, no other non-200 answer, no connection
  error, and 504 (timed out in the queue) for fewer than 0.1% of the accepted requests (200 + 504).
- memory stays flat: the server's RSS (VmRSS of /proc/<pid>/status, read every 0.5 s) over the last 5 s of load
  is at most the largest of its max over seconds 2-5 + 10% and that max + 20 MiB (runs under 10 s: not measured).
- recovery: from the moment the clients stop sending (their last answers may still be in flight), a single
  request is posted every 50 ms until one gets 200, within 5 s; then ``/v2/health/ready`` must answer 200.

    python -m benchmarks.serve_overload [--seconds 20] [--clients 256] [--queue-size 64] [--port 8766]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks import _http
from benchmarks.serve_load import BODY, ENV, ROOT, build_model, start_server

HOST = "127.0.0.1"
REJECT_P99_MS, TIMEOUT_SHARE, RSS_SHARE, RSS_MIB, RECOVERY_S = 250.0, 0.001, 0.10, 20.0, 5.0


def cpu_s(pid: int) -> float:
    """The CPU time (user + system, seconds) process ``pid`` has used so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float | None:
    """The resident memory of process ``pid`` in MiB (VmRSS), or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def _recovery(port: int, stop: float) -> dict[str, object]:
    """After ``stop``: post one request every 50 ms until one gets 200 (at most 30 s); then ask readiness."""
    await asyncio.sleep(max(0.0, stop - time.perf_counter()))
    connection, polls, status = _http.Connection(HOST, port), 0, None
    while status != 200 and time.perf_counter() - stop < 30:
        polls += 1
        try:
            status = (await connection.request("POST", "/predict", BODY))[0]
        except _http.ERRORS:
            status = None
        if status != 200:
            await asyncio.sleep(0.05)
    recovered = round(time.perf_counter() - stop, 3) if status == 200 else None
    connection.close()
    return {
        "recovery_s": recovered,
        "recovery_polls": polls,
        "ready_status": await _http.get_status(HOST, port, "/v2/health/ready"),
    }


async def _overload(port: int, seconds: float, clients: int) -> dict[str, object]:
    """The generator: ``clients`` clients for ``seconds``, then the recovery poll; latencies by outcome."""
    latencies: dict[str, list[float]] = {}
    started_wall, started, cpu = time.time(), time.perf_counter(), time.process_time()
    stop = started + seconds

    def pause(status: int) -> float:
        return 0.01 if status in (429, 503) else 0.0

    recovery = asyncio.create_task(_recovery(port, stop))
    await asyncio.gather(
        *[
            _http.client_loop(HOST, port, "/predict", BODY, stop, latencies, pause)
            for _ in range(clients)
        ]
    )
    return {
        "latencies": latencies,
        "started_wall": started_wall,
        "seconds": seconds,
        "drained_s": round(time.perf_counter() - stop, 3),
        "cpu_s": time.process_time() - cpu,
        **(await recovery),
    }


def _memory(samples: list[tuple[float, float]], seconds: float) -> dict[str, object]:
    """RSS samples (seconds from the load's start, MiB) -> the baseline and final maxima and the flatness verdict."""
    baseline = [mib for t, mib in samples if 2 <= t <= 5]
    final = [mib for t, mib in samples if seconds - 5 <= t <= seconds]
    if seconds < 10 or not baseline or not final:
        return {"rss_baseline_mib": None, "rss_final_mib": None, "memory_flat": None}
    limit = max(baseline) + max(RSS_SHARE * max(baseline), RSS_MIB)
    return {
        "rss_baseline_mib": round(max(baseline), 1),
        "rss_final_mib": round(max(final), 1),
        "rss_limit_mib": round(limit, 1),
        "memory_flat": max(final) <= limit,
    }


def run_overload(
    seconds: float = 20,
    clients: int = 256,
    queue_size: int = 64,
    max_batch_size: int = 32,
    port: int = 8766,
) -> dict[str, object]:
    """Serve the MLP, overload it from one generator process; the result dict with ``targets`` and ``ok``."""
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(
            build_model(Path(tmp)), port, queue_size=queue_size, max_batch_size=max_batch_size
        )
        try:
            idle, server_cpu = rss_mib(server.pid), cpu_s(server.pid)
            command = [
                sys.executable,
                "-m",
                "benchmarks.serve_overload",
                "--generator",
                "--port",
                str(port),
                "--seconds",
                str(seconds),
                "--clients",
                str(clients),
            ]
            generator = subprocess.Popen(
                command, env=ENV, cwd=ROOT, stdout=subprocess.PIPE, text=True
            )
            samples: list[tuple[float, float]] = []
            done = threading.Event()

            def sample() -> (
                None
            ):  # in a thread: the main thread reads the generator's output meanwhile
                while not done.wait(0.5):
                    mib = rss_mib(server.pid)
                    if mib is not None:
                        samples.append((time.time(), mib))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            try:
                part = json.loads(generator.communicate()[0])
            finally:
                done.set()
                sampler.join()
            after, server_cpu = rss_mib(server.pid), cpu_s(server.pid) - server_cpu
            server_alive = server.poll() is None
        finally:
            server.terminate()
            server.wait(10)
    latencies: dict[str, list[float]] = part["latencies"]
    counts = {key: len(latencies.get(key, [])) for key in ("200", "429", "503", "504")}
    counts["other"] = sum(
        len(v) for k, v in latencies.items() if k[:1].isdigit() and k not in counts
    )
    counts["connection_errors"] = sum(len(v) for k, v in latencies.items() if not k[:1].isdigit())
    other_5xx = sum(
        len(v) for k, v in latencies.items() if k[:1] == "5" and k not in ("503", "504")
    )
    refused = latencies.get("429", []) + latencies.get("503", [])
    memory = _memory([(t - part["started_wall"], mib) for t, mib in samples], seconds)
    ok_times, answers = latencies.get("200", []), sum(len(v) for v in latencies.values())
    result: dict[str, object] = {
        "seconds": seconds,
        "clients": clients,
        "queue_size": queue_size,
        "counts": counts,
        "other_5xx": other_5xx,
        "outcomes": {k: len(v) for k, v in latencies.items()},
        "requests_per_s": round(answers / seconds, 1),
        "accepted_per_s": round(counts["200"] / seconds, 1),
        "ok_p50_ms": _http.percentile(ok_times, 0.5),
        "ok_p99_ms": _http.percentile(ok_times, 0.99),
        "reject_p99_ms": _http.percentile(refused, 0.99),
        "timeout_share": counts["504"] / max(1, counts["200"] + counts["504"]),
        "rss_idle_mib": idle and round(idle, 1),
        "rss_after_mib": after and round(after, 1),
        **memory,
        "drained_s": part["drained_s"],
        "recovery_s": part["recovery_s"],
        "ready_status": part["ready_status"],
        "server_alive": server_alive,
        "server_cpu_s": round(server_cpu, 1),
        "generator_cpu_s": round(part["cpu_s"], 1),
        "load_average": round(os.getloadavg()[0], 2),
    }
    reject_p99 = result["reject_p99_ms"]
    result["targets"] = targets = {
        "excess refused quickly": bool(refused)
        and reject_p99 is not None
        and reject_p99 < REJECT_P99_MS,
        "accepted requests finish": other_5xx == counts["other"] == counts["connection_errors"] == 0
        and result["timeout_share"] < TIMEOUT_SHARE,
        "memory flat": memory["memory_flat"] is True,
        "recovers within 5 s": part["recovery_s"] is not None
        and part["recovery_s"] <= RECOVERY_S
        and part["ready_status"] == 200
        and server_alive,
    }
    result["ok"] = all(targets.values())
    return result


def main() -> int:
    """Run the overload test and print its table; 0 when every target passes, 1 otherwise."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=256)
    parser.add_argument("--queue-size", type=int, default=64)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument(
        "--generator", action="store_true", help=argparse.SUPPRESS
    )  # internal: the generator only
    args = parser.parse_args()
    if args.generator:
        print(json.dumps(asyncio.run(_overload(args.port, args.seconds, args.clients))))
        return 0
    r = run_overload(args.seconds, args.clients, args.queue_size, port=args.port)
    c, t = r["counts"], r["targets"]
    print(
        f"{args.clients} clients, queue {args.queue_size}, {args.seconds} s: counts {c}, "
        f"{r['requests_per_s']} answers/s ({r['accepted_per_s']} accepted/s), 200 p50 {r['ok_p50_ms']} ms "
        f"p99 {r['ok_p99_ms']} ms, in-flight drained {r['drained_s']} s after stop; "
        f"CPU s server {r['server_cpu_s']}, generator {r['generator_cpu_s']}; load average {r['load_average']}"
    )
    rows = [
        (
            "excess refused quickly",
            f"{c['429']} x 429, {c['503']} x 503, p99 {r['reject_p99_ms']} ms",
            f"> 0, p99 < {REJECT_P99_MS:.0f} ms",
        ),
        (
            "accepted requests finish",
            f"{r['other_5xx']} other 5xx, {c['other']} other, "
            f"{c['connection_errors']} conn. errors, {c['504']} x 504 ({100 * r['timeout_share']:.3f}%)",
            "0, 0, 0, 504 < 0.1%",
        ),
        (
            "memory flat",
            f"RSS idle {r['rss_idle_mib']}, s 2-5 max {r['rss_baseline_mib']}, last 5 s max "
            f"{r['rss_final_mib']}, after {r['rss_after_mib']} MiB",
            "last 5 s <= max(+10%, +20 MiB)",
        ),
        (
            "recovers within 5 s",
            f"first 200 after {r['recovery_s']} s, ready {r['ready_status']}",
            "<= 5 s, ready 200",
        ),
    ]
    print("| target | measured | goal | result |\n|---|---|---|---|")
    for name, measured, goal in rows:
        print(f"| {name} | {measured} | {goal} | {'PASS' if t[name] else 'FAIL'} |")
    print(f"{'PASS' if r['ok'] else 'FAIL'}: overload targets")
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
