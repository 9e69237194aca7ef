"""A minimal HTTP/1.1 keep-alive client for the webhook probes (scenarios 1 and 4).

The probes share two cores with the system they measure. httpx spent about 1.5 ms of CPU per
webhook (its pool bookkeeping scans every connection on each request): at 200 webhooks a second
the load generator took three quarters of a core from the services and inflated the very latency
it measured. This client writes a prepared request and reads the status, headers and
Content-Length body back, nothing more; the services answer plain HTTP/1.1, no chunking or TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections import deque


class HttpError(OSError):
    """No usable answer: the connection failed or the answer was not HTTP/1.1."""


class RawHttpPool:
    def __init__(self, base_url: str, *, size: int = 64, timeout_s: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"only plain http URLs are supported: {base_url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._host_header = parts.netloc.encode()
        self._idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = deque()
        self._slots = asyncio.Semaphore(size)
        self._timeout_s = timeout_s

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body`` to ``path``; the answer's status code. Raises HttpError."""
        head = [
            f"POST {path} HTTP/1.1".encode(),
            b"Host: " + self._host_header,
            b"Content-Length: " + str(len(body)).encode(),
            *(f"{name}: {value}".encode() for name, value in headers.items()),
        ]
        request = b"\r\n".join(head) + b"\r\n\r\n" + body
        async with self._slots:
            reader, writer = await self._connection()
            try:
                async with asyncio.timeout(self._timeout_s):
                    writer.write(request)
                    status, keep_alive = await _read_answer(reader)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                writer.close()
                raise HttpError(repr(exc)) from None
            if keep_alive:
                self._idle.append((reader, writer))
            else:
                writer.close()
            return status

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self._idle:
            reader, writer = self._idle.popleft()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer
        try:
            return await asyncio.open_connection(self._host, self._port)
        except OSError as exc:
            raise HttpError(repr(exc)) from None

    async def aclose(self) -> None:
        while self._idle:
            _, writer = self._idle.popleft()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    status_line = await reader.readline()
    version, _, rest = status_line.partition(b" ")
    if not version.startswith(b"HTTP/1."):
        raise ValueError("not an HTTP/1.x answer")
    status = int(rest[:3])
    length = 0
    keep_alive = version == b"HTTP/1.1"
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            keep_alive = value.strip().lower() == b"keep-alive"
        elif name == b"transfer-encoding":
            raise ValueError("chunked answers are not supported")
    if length:
        await reader.readexactly(length)
    return status, keep_alive
