"""The client's address behind reverse proxies, for per-address throttling."""

from __future__ import annotations


def client_address(peer: str, forwarded_for: str | None, trusted_proxy_hops: int) -> str:
    """The client's address, honouring X-Forwarded-For only from trusted proxy hops.

    Behind a reverse proxy every request comes from the proxy, so without this all clients would
    share one rate-limit bucket; trusting more entries than there are proxies would let a client
    pick its own address by sending the header.
    """
    if trusted_proxy_hops == 0:
        return peer
    entries = [p.strip() for p in (forwarded_for or "").split(",")]
    chain = [p for p in entries if p] + [peer]
    # Each trusted proxy appended the address it saw; the one before them is the client.
    if len(chain) > trusted_proxy_hops:
        return chain[-(trusted_proxy_hops + 1)]
    return chain[0]
