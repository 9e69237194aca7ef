"""Same-origin rule for state-changing requests (a CSRF defence on top of SameSite=Strict)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, lower-cased, default port dropped; None if not a URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def allowed_origins(public_url: str, extra: Iterable[str]) -> frozenset[str]:
    """The service's own origin plus the configured extra ones."""
    found = (origin_of(u) for u in (public_url, *extra))
    return frozenset(o for o in found if o is not None)


def is_foreign(origin_header: str | None, allowed: frozenset[str]) -> bool:
    """A request without ``Origin`` is not a browser's cross-site request; ``null`` is foreign."""
    if origin_header is None:
        return False
    origin = origin_of(origin_header)
    return origin is None or origin not in allowed
