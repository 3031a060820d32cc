"""The serving benchmarks at tiny scale: the lean HTTP client and the overload script's result dict."""

import asyncio
import socket
import time

import pytest

from benchmarks import _http
from benchmarks.serve_overload import run_overload


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_lean_client_parses_answers_and_counts_failures_honestly():
    async def server(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nbusy"
        )
        await reader.readuntil(b"\r\n\r\n")  # the second request on the kept connection: cut short
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
        writer.close()

    async def scenario():
        listener = await asyncio.start_server(server, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        connection = _http.Connection("127.0.0.1", port)
        first = await connection.request("POST", "/predict", b"{}")
        with pytest.raises(asyncio.IncompleteReadError):
            await connection.request("POST", "/predict", b"{}")
        listener.close()
        unavailable = await asyncio.start_server(always_503, "127.0.0.1", 0)
        latencies = {}
        for port in (
            unavailable.sockets[0].getsockname()[1],
            free_port(),
        ):  # a 503 without Retry-After; no server
            await _http.client_loop(
                "127.0.0.1", port, "/predict", b"{}", time.perf_counter() + 0.05, latencies
            )
        unavailable.close()
        return (
            first,
            connection.writer,
            latencies,
            await _http.get_status("127.0.0.1", free_port(), "/"),
        )

    async def always_503(reader, writer):
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")

    first, writer, latencies, refused = asyncio.run(scenario())
    assert first == (429, {"retry-after": "1", "content-length": "4"}, b"busy")
    assert (
        writer is None
    )  # a failed exchange closes the connection; the next request opens a new one
    assert (
        set(latencies) == {"503 no Retry-After", "ConnectionRefusedError"}
        and refused == "ConnectionRefusedError"
    )
    assert (
        _http.percentile([0.001 * i for i in range(1, 101)], 0.99) == 100.0
        and _http.percentile([], 0.5) is None
    )


def test_overload_at_tiny_scale_refuses_excess_and_recovers():
    result = run_overload(seconds=2, clients=96, queue_size=8, port=free_port())
    counts = result["counts"]
    assert counts["429"] > 0 and counts["200"] > 0, counts
    assert result["other_5xx"] == 0 and counts["other"] == 0 and counts["connection_errors"] == 0, (
        result["outcomes"]
    )
    assert (
        result["recovery_s"] is not None
        and result["recovery_s"] <= 5
        and result["ready_status"] == 200
    )
    assert (
        result["reject_p99_ms"] is not None and result["memory_flat"] is None
    )  # too short to judge memory
    assert set(result["targets"]) == {
        "excess refused quickly",
        "accepted requests finish",
        "memory flat",
        "recovers within 5 s",
    }
