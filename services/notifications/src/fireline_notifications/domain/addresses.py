"""Which addresses an endpoint may point at: the rules against server-side request forgery.

A webhook URL is chosen by an org admin and fetched from inside our network, so without these
rules it could reach the cloud metadata service, the database or anything else on the private
network. Only globally routable addresses are allowed, unless the operator's allow-list names the
host (or a network holding its address); only allow-listed hosts may use plain http. The same
rules are applied to the URL when it is saved and to the resolved address at every send, so a
DNS name that later points inside is still refused.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2048


@dataclass(frozen=True)
class AllowList:
    """``FIRELINE_NOTIFICATIONS_ALLOWED_HOSTS``: host names and networks exempt from the rules."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """Comma-separated host names and CIDRs (a bare address is a one-address network)."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for part in (p.strip().lower() for p in text.split(",")):
            if not part:
                continue
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                if "/" in part or not _looks_like_host(part):
                    raise ValueError(f"not a host name or CIDR: {part!r}") from None
                hosts.add(part.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def names(self, host: str, address: IPAddress | None = None) -> bool:
        """Whether the list names ``host`` or a network holding ``address`` (or ``host`` itself,
        when it is an address literal)."""
        host = host.lower().rstrip(".")
        if host in self.hosts:
            return True
        address = address if address is not None else _literal(host)
        return address is not None and any(address in network for network in self.networks)


@dataclass(frozen=True)
class Target:
    """A URL taken apart: what a send connects to and what it asks for."""

    scheme: str
    host: str
    port: int

    @property
    def literal(self) -> IPAddress | None:
        return _literal(self.host)


def parse_url(url: str, allow: AllowList) -> Target:
    """The URL's scheme, host and port; raise ValueError (a sentence for the client) when its
    form is refused: not http(s), credentials in it, plain http to a host the list does not
    name, or an address literal that is not public."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("the URL is not valid") from None
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError("the URL must be an absolute https URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the URL must not carry credentials")
    if parts.scheme == "http" and not allow.names(host):
        raise ValueError("the URL must use https")
    target = Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80))
    literal = target.literal
    if literal is not None:
        check_address(host, literal, allow)
    return target


def check_address(host: str, address: IPAddress, allow: AllowList) -> None:
    """Raise ValueError unless ``address`` (what ``host`` resolved to) may be sent to."""
    if allow.names(host, address) or is_public(address):
        return
    raise ValueError(
        f"{host} resolves to a private, loopback, link-local or metadata address ({address}), "
        "which endpoints may not use"
    )


def is_public(address: IPAddress) -> bool:
    """A globally routable unicast address (an IPv4-mapped IPv6 address is judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _looks_like_host(text: str) -> bool:
    labels = text.rstrip(".").split(".")
    return all(
        0 < len(label) <= 63 and all(c.isalnum() or c == "-" for c in label) for label in labels
    )
