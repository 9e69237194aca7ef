"""Reading a request body whole, but never more of it than the endpoint is willing to hold."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request


async def read_at_most(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it proves longer than ``limit`` bytes."""
    return await collect_at_most(request.headers.get("content-length"), request.stream(), limit)


async def collect_at_most(
    declared: str | None, chunks: AsyncIterator[bytes], limit: int
) -> bytes | None:
    """The body ``chunks`` add up to, or None as soon as it proves longer than ``limit`` bytes.

    The declared Content-Length only refuses early; a chunked body has none and a client may lie,
    so the bytes received are counted as they arrive and reading stops at the limit.
    """
    declared = (declared or "").strip()
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in chunks:
        body.extend(chunk)
        if len(body) > limit:
            return None
    return bytes(body)
