"""A minimal keep-alive HTTP/1.1 GET loop, for the start-route ceiling comparison.

A full HTTP client costs more CPU per request than a bare 302 route does, so measuring the ceiling
with one would measure the client. This sends fixed, prepared requests on K connections and only
reads status lines, headers and Content-Length bodies.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class RawResult:
    """Answers counted by status code over a measured window."""

    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    latencies: list[float] = field(default_factory=list)

    def count(self, status: int) -> int:
        return self.statuses.get(status, 0)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    if length:
        await reader.readexactly(length)
    return status, close


async def hammer(host: str, port: int, requests: list[bytes], seconds: float) -> RawResult:
    """Send each prepared request in a loop on its own connection for `seconds`; count answers."""
    result = RawResult()
    deadline = time.perf_counter() + seconds

    async def connection(request: bytes) -> None:
        reader = writer = None
        while time.perf_counter() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                sent = time.perf_counter()
                writer.write(request)
                status, close = await _read_response(reader)
                result.latencies.append(time.perf_counter() - sent)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if close:
                    writer.close()
                    reader = writer = None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                result.errors += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection(request) for request in requests))
    result.seconds = time.perf_counter() - started
    return result


def get_request(host: str, port: int, path: str, cookie: str = "") -> bytes:
    """A prepared keep-alive GET, with the browser's cookie header when it has one."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: text/html", "User-Agent: bench-raw"]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
