"""Sending one attempt over HTTP, and resolving host names, with the SSRF rules applied at send.

The host is resolved here, every address checked, and the request sent to the checked address
itself (the URL's host kept in ``Host`` and as the TLS server name, so certificates are still
verified against it). Resolving twice, once to check and once to connect, would let a DNS answer
that changes in between (DNS rebinding) reach an address that was never checked.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import socket
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from fireline_notifications.domain.addresses import IPAddress
from fireline_notifications.domain.delivery import MAX_STORED_BODY, AttemptResult
from fireline_notifications.domain.errors import RefusedUrl
from fireline_notifications.service_layer.urls import UrlPolicy

_READ_LIMIT = 4 * MAX_STORED_BODY  # bytes of an answer read at most; the rest is not wanted


class DnsResolver:
    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError):
            return []
        addresses: dict[IPAddress, None] = {}
        for info in infos:
            addresses[ipaddress.ip_address(str(info[4][0]).split("%")[0])] = None
        return list(addresses)


class HttpSender:
    def __init__(self, client: httpx.AsyncClient, *, urls: UrlPolicy, timeout_s: float) -> None:
        self._client = client
        self._urls = urls
        self._timeout_s = timeout_s

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> AttemptResult:
        started = time.perf_counter()
        try:
            address = await self._urls.check(url)
        except RefusedUrl as exc:
            return AttemptResult(None, _ms(started), error=f"refused: {exc}")
        parts = urlsplit(url)
        host = parts.hostname or ""
        literal = f"[{address}]" if address.version == 6 else str(address)
        pinned = parts._replace(netloc=f"{literal}:{parts.port or _default_port(parts.scheme)}")
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        request = self._client.build_request(
            "POST",
            pinned.geturl(),
            content=body,
            headers={**headers, "host": parts.netloc.rpartition("@")[2]},
            extensions=extensions,
        )
        try:
            # httpx's timeout is per read; the endpoint gets this long for the whole answer.
            async with asyncio.timeout(self._timeout_s):
                response = await self._client.send(request, stream=True)
                try:
                    text = await _head_of(response)
                finally:
                    await response.aclose()
        except TimeoutError:
            return AttemptResult(None, _ms(started), error=f"no answer in {self._timeout_s:g} s")
        except httpx.HTTPError as exc:
            return AttemptResult(None, _ms(started), error=f"{type(exc).__name__}: {exc}")
        return AttemptResult(
            response.status_code,
            _ms(started),
            response_body=text,
            retry_after_s=_retry_after(response.headers.get("retry-after")),
        )


async def _head_of(response: httpx.Response) -> str:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _READ_LIMIT:
            break
    return b"".join(chunks)[:_READ_LIMIT].decode("utf-8", errors="replace")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(float(value.strip()), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
