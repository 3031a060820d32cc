"""A lean asyncio HTTP/1.1 keep-alive client for the serving benchmarks.

Each virtual client owns one connection (``asyncio.open_connection``) and sends hand-written request bytes with a
``Content-Length`` and ``Connection: keep-alive``; an answer is read as its status line, headers and a
``Content-Length`` (or chunked) body. It costs a few tens of microseconds of CPU per request, so one generator
process can keep hundreds of clients busy, where an httpx client costs more per request than the server does.

Counting is honest: every answer is counted under its status code ("200", "429", ...), every failed exchange
(refused or reset connection, an answer cut short, a timeout) under the exception's name, and a failed connection
is closed and opened again for the next request. Latency is measured per request with ``time.perf_counter``.

>>> head = b"HTTP/1.1 429 Too Many Requests\\r\\nRetry-After: 1\\r\\ncontent-length: 2\\r\\n\\r\\n"
>>> parse_head(head)
(429, {'retry-after': '1', 'content-length': '2'})
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

TIMEOUT_S = 30.0
ERRORS = (
    OSError,
    EOFError,
    asyncio.TimeoutError,
    asyncio.LimitOverrunError,
    ValueError,
)  # a failed exchange


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """The status code and the headers (names lower-cased) of an answer's head, up to its blank line."""
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    if not version.startswith("HTTP/1."):
        raise ConnectionError(f"Not an HTTP/1.x status line: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return int(status), headers


class Connection:
    """One keep-alive HTTP/1.1 connection to ``host:port``, opened on first use and after any failure."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = "application/json"
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request; returns (status, headers, body). Raises one of ``ERRORS`` on failure."""
        try:
            async with asyncio.timeout(TIMEOUT_S):
                if self.reader is None or self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                self.writer.write(
                    f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                    f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                    "Connection: keep-alive\r\n\r\n".encode()
                    + body
                )
                status, headers = parse_head(await self.reader.readuntil(b"\r\n\r\n"))
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    content = b""
                    while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                        content += (await self.reader.readexactly(size + 2))[:-2]
                    await self.reader.readuntil(b"\r\n")  # the empty trailer
                else:
                    content = await self.reader.readexactly(int(headers.get("content-length", "0")))
        except BaseException:
            self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, content

    def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def client_loop(
    host: str,
    port: int,
    path: str,
    body: bytes,
    stop: float,
    latencies: dict[str, list[float]],
    pause: Callable[[int], float] | None = None,
) -> None:
    """POST ``body`` to ``path`` until ``perf_counter() >= stop``, appending each latency under its outcome.

    Outcomes: the status code ("200"), "429 no Retry-After" (or 503) for a refusal without that header, or the
    exception's name. ``pause(status)`` gives seconds to sleep after an answer (none by default); after a failed
    exchange the client sleeps 10 ms so that a dead server does not turn the loop into a busy spin.
    """
    connection = Connection(host, port)
    while time.perf_counter() < stop:
        started = time.perf_counter()
        try:
            status, headers, _ = await connection.request("POST", path, body)
            key, wait = str(status), pause(status) if pause else 0.0
            if status in (429, 503) and "retry-after" not in headers:
                key += " no Retry-After"
        except ERRORS as exc:  # refused, reset, cut short, garbled or timed out
            key, wait = type(exc).__name__, 0.01
        latencies.setdefault(key, []).append(time.perf_counter() - started)
        if wait:
            await asyncio.sleep(wait)
    connection.close()


async def get_status(host: str, port: int, path: str) -> int | str:
    """One GET on a fresh connection: the status code, or the exception's name when the exchange failed."""
    connection = Connection(host, port)
    try:
        return (await connection.request("GET", path))[0]
    except ERRORS as exc:
        return type(exc).__name__
    finally:
        connection.close()


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` by rank, in milliseconds rounded to 0.1; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(len(ordered) * q))], 1)
