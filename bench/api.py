"""The public APIs the bench drives: identity (keys), auth (exchange), ingest, incidents."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from bench.rawhttp import RawHttpPool
from bench.target import Target

TOKEN_REFRESH_S = 300.0
"""Tokens live 900 s; one older than this is replaced before use, so a long run never meets 401."""


@dataclass(frozen=True)
class ApiKey:
    id: str
    secret: str


@dataclass(frozen=True)
class Integration:
    id: str
    webhook_url: str
    secret: str


class Fireline:
    """One pooled HTTP client for the services, plus an identity session for key management."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.http = httpx.AsyncClient(
            timeout=30, limits=httpx.Limits(max_connections=128, max_keepalive_connections=128)
        )
        # The webhook probes send thousands of deliveries while the system is measured; see
        # rawhttp for why they do not go through httpx.
        self.webhooks = RawHttpPool(target.ingest_url, size=128)
        # Its own client: it carries the admin's session cookie, which no other call should.
        self.identity = httpx.AsyncClient(base_url=target.identity_url, timeout=30)
        self._token: tuple[ApiKey, str, float] | None = None

    async def aclose(self) -> None:
        await self.webhooks.aclose()
        await self.http.aclose()
        await self.identity.aclose()

    # identity

    async def login(self) -> None:
        r = await self.identity.post(
            "/v1/session",
            json={"email": self.target.admin_email, "password": self.target.admin_password},
        )
        _expect(r, 200, "admin login")

    async def create_key(self, name: str) -> ApiKey:
        r = await self.identity.post("/v1/api-keys", json={"name": name})
        _expect(r, 201, "create API key")
        body = r.json()
        return ApiKey(id=str(body["id"]), secret=str(body["key"]))

    async def revoke_key(self, key: ApiKey) -> None:
        r = await self.identity.delete(f"/v1/api-keys/{key.id}")
        # 404: already gone (a retry after a lost answer); the key is revoked either way.
        if r.status_code not in (204, 404):
            _expect(r, 204, "revoke API key")

    # auth

    async def exchange(self, key: ApiKey) -> httpx.Response:
        return await self.http.post(
            f"{self.target.auth_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(key.id, key.secret),
        )

    async def token(self, key: ApiKey, *, timeout: float = 90.0) -> str:
        """An access token for ``key``, waiting for the key to reach auth (and out a 429).

        Backs off from 50 ms to 1 s between attempts: every refused attempt counts towards
        auth's failed-authentication limit, which a stack the bench did not start keeps at its
        default.
        """
        deadline = time.monotonic() + timeout
        pause = 0.05
        while True:
            r = await self.exchange(key)
            if r.status_code == 200:
                return str(r.json()["access_token"])
            if time.monotonic() > deadline or r.status_code not in (401, 429):
                _expect(r, 200, "token exchange")
            wait = float(r.headers.get("retry-after", pause)) if r.status_code == 429 else pause
            await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 1.0)

    async def fresh_token(self, key: ApiKey) -> str:
        """A cached token for the bench's own key, renewed well before it expires."""
        now = time.monotonic()
        if self._token is None or self._token[0] != key or now - self._token[2] > TOKEN_REFRESH_S:
            self._token = (key, await self.token(key), now)
        return self._token[1]

    def forget_token(self) -> None:
        """Drop the cached token (its signing key was withdrawn)."""
        self._token = None

    # pagerduty-ingest

    async def create_integration(self, token: str, **settings: str) -> Integration:
        """A PagerDuty integration; ``settings`` adds fields (an API token and URL)."""
        secret = "bench-signing-secret-" + uuid.uuid4().hex
        r = await self.http.post(
            f"{self.target.ingest_url}/v1/integrations/pagerduty",
            json={"name": "bench", "signing_secrets": [secret], **settings},
            headers=_bearer(token),
        )
        _expect(r, 201, "create PagerDuty integration")
        body = r.json()
        # The bench posts to the ingest URL it was given; the advertised public URL may differ.
        path = urllib.parse.urlsplit(body["webhook_url"]).path
        return Integration(
            id=str(body["id"]), webhook_url=self.target.ingest_url + path, secret=secret
        )

    async def delete_integration(self, token: str, integration: Integration) -> None:
        r = await self.http.delete(
            f"{self.target.ingest_url}/v1/integrations/pagerduty/{integration.id}",
            headers=_bearer(token),
        )
        if r.status_code not in (204, 404):
            _expect(r, 204, "delete PagerDuty integration")

    async def send_webhook(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST one delivery; the status code. Raises HttpError when there is no answer."""
        return await self.webhooks.post(urllib.parse.urlsplit(url).path, body, headers)

    async def ingest_read_status(self, token: str) -> int:
        """Status of an authenticated read at pagerduty-ingest: does it accept this token?"""
        r = await self.http.get(
            f"{self.target.ingest_url}/v1/integrations/pagerduty", headers=_bearer(token)
        )
        return r.status_code

    # incidents

    async def read_status(self, token: str) -> int:
        """Status of the cheapest authenticated read: does incidents accept this token?"""
        r = await self.http.get(
            f"{self.target.incidents_url}/v1/incidents",
            params={"limit": 1},
            headers=_bearer(token),
        )
        return r.status_code

    async def incidents(self, token: str, **filters: str) -> AsyncIterator[dict[str, Any]]:
        """Every incident matching ``filters``, newest first, page by page (100 a page)."""
        cursor = ""
        while True:
            r = await self.http.get(
                f"{self.target.incidents_url}/v1/incidents",
                params={**filters, "limit": 100, "cursor": cursor},
                headers=_bearer(token),
            )
            _expect(r, 200, "list incidents")
            page = r.json()
            for item in page["items"]:
                yield item
            if not page["next_cursor"]:
                return
            cursor = page["next_cursor"]

    async def wait_incident(self, token: str, external_id: str, *, timeout: float = 60.0) -> str:
        """The id of the incident started for PagerDuty incident ``external_id``, once it exists."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = await self.http.get(
                f"{self.target.incidents_url}/v1/incidents",
                params={"source": "pagerduty", "external_id": external_id, "limit": 1},
                headers=_bearer(token),
            )
            _expect(r, 200, "list incidents")
            items = r.json()["items"]
            if items:
                return str(items[0]["id"])
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no incident for PagerDuty incident {external_id} in {timeout:.0f} s")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _expect(r: httpx.Response, status: int, what: str) -> None:
    if r.status_code != status:
        raise RuntimeError(f"{what}: expected {status}, got {r.status_code}: {r.text[:300]}")
