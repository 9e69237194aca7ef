"""The SSRF rules with a resolver: when an endpoint is saved, and again at every send."""

from __future__ import annotations

from dataclasses import dataclass

from fireline_notifications.domain.addresses import AllowList, IPAddress, check_address, parse_url
from fireline_notifications.domain.errors import RefusedUrl
from fireline_notifications.service_layer.ports import Resolver


@dataclass(frozen=True)
class UrlPolicy:
    allow: AllowList
    resolver: Resolver

    async def check(self, url: str) -> IPAddress:
        """The address to connect to for ``url``; raise RefusedUrl unless the URL and every
        address its host resolves to may be used (a name that mixes a public address with an
        internal one is refused)."""
        try:
            target = parse_url(url, self.allow)
        except ValueError as exc:
            raise RefusedUrl(str(exc)) from None
        if target.literal is not None:
            return target.literal
        addresses = await self.resolver.resolve(target.host, target.port)
        if not addresses:
            raise RefusedUrl(f"{target.host} does not resolve")
        for address in addresses:
            try:
                check_address(target.host, address, self.allow)
            except ValueError as exc:
                raise RefusedUrl(str(exc)) from None
        return addresses[0]
