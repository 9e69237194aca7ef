"""An org on a running stack, reached as a user would: a session, an API key, an access token,
and PagerDuty integrations whose webhooks it delivers signed (the e2e tests' shared client)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from support import pagerduty_fixtures as pd
from support.credentials import admin_session, exchange, new_key, new_org, session
from support.stack import Stack

SECRET = "e2e-signing-secret-0123456789abcdef"


@dataclass
class Org:
    stack: Stack
    identity: httpx.Client
    token: str
    run: str

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def integration(self, **fields: Any) -> dict[str, Any]:
        body = {"name": f"pd-{uuid.uuid4().hex[:6]}", "signing_secrets": [SECRET], **fields}
        url = f"{self.stack.url('pagerduty-ingest')}/v1/integrations/pagerduty"
        created: dict[str, Any] = self._api("POST", url, 201, json=body)
        return created

    def deliver(self, integration: dict[str, Any], body: bytes, **kw: Any) -> httpx.Response:
        headers = pd.signed(body, [SECRET], **kw)
        return httpx.post(integration["webhook_url"], content=body, headers=headers, timeout=10)

    def incidents(self, **params: str) -> list[dict[str, Any]]:
        url = f"{self.stack.url('incidents')}/v1/incidents"
        items: list[dict[str, Any]] = self._api("GET", url, 200, params=params)["items"]
        return items

    def incidents_api(self, method: str, path: str, expect: int, **kw: Any) -> Any:
        """Call the incidents API at ``path`` (e.g. ``/v1/incidents/<id>/timeline``)."""
        return self._api(method, f"{self.stack.url('incidents')}{path}", expect, **kw)

    def timeline(self, incident_id: str, *, limit: int = 5) -> list[dict[str, Any]]:
        """The incident's whole timeline, read page by page (small pages, so paging is used)."""
        entries: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": limit}
        while True:
            page = self.incidents_api(
                "GET", f"/v1/incidents/{incident_id}/timeline", 200, params=params
            )
            entries += page["items"]
            if page["next_cursor"] is None:
                return entries
            params = {"limit": limit, "cursor": page["next_cursor"]}

    def _api(self, method: str, url: str, expect: int, **kw: Any) -> Any:
        r = httpx.request(method, url, headers=self.auth_headers, timeout=10, **kw)
        assert r.status_code == expect, r.text
        return r.json()

    def wait_incident(self, external_id: str, timeout: float = 20, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        items: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            items = self.incidents(external_id=external_id)
            if items and all(items[0].get(k) == v for k, v in match.items()):
                return items[0]
            time.sleep(0.05)
        raise AssertionError(f"no incident for {external_id} matching {match}: {items}")

    def user(self, email: str, name: str) -> str:
        r = self.identity.post(
            "/v1/users",
            json={"email": email, "name": name, "role": "member", "password": "correct horse 1"},
        )
        assert r.status_code == 201, r.text
        user_id: str = r.json()["id"]
        # The users projection in incidents is fed through Kafka: wait until it knows the user,
        # observed through the public API (a manual incident naming the user as creator).
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            probe = httpx.post(
                f"{self.stack.url('incidents')}/v1/incidents",
                json={"title": f"projection probe {name}", "creator_id": user_id},
                headers=self.auth_headers,
                timeout=10,
            )
            if probe.status_code == 201:
                return user_id
            time.sleep(0.1)
        raise AssertionError(f"incidents never learnt about user {email}")


@contextmanager
def open_org(stack: Stack, *, own: bool = False) -> Iterator[Org]:
    """The stack's bootstrapped org, signed in, with a fresh API key exchanged for a token; the
    key is revoked afterwards, so the tests sharing a stack stay under the per-org key limit.

    ``own``: a new org instead (made with identity's CLI), which no other test's incidents
    reach. Every webhook endpoint of an org gets the org's incident events, however late they
    come: a test that counts what its endpoints got needs an org of its own.
    """
    identity = session(stack, *new_org(stack)) if own else admin_session(stack)
    key = new_key(identity, "pagerduty e2e")
    try:
        yield Org(stack, identity, exchange(stack, key), uuid.uuid4().hex[:6])
    finally:
        identity.delete(f"/v1/api-keys/{key['id']}")
        identity.close()
