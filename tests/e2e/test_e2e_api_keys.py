"""API keys end to end: key → token at both endpoints → incidents → revoke → refused everywhere."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from support.credentials import admin_session
from support.stack import Stack

pytestmark = pytest.mark.e2e


def test_key_exchange_use_and_revocation_across_the_four_processes(stack: Stack) -> None:
    identity = admin_session(stack)
    created = identity.post("/v1/api-keys", json={"name": "e2e machine"})
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["key"].startswith("flk_")

    # The secret is shown once: never in the list.
    listed = identity.get("/v1/api-keys").json()["items"]
    assert any(item["id"] == key["id"] for item in listed)
    assert key["key"] not in identity.get("/v1/api-keys").text

    auth = stack.url("auth")
    token_url = f"{auth}/oauth/token"
    # identity → Kafka → auth's projection is asynchronous: the first exchange may need a moment.
    deadline = time.monotonic() + 20
    while True:
        r = httpx.post(
            token_url, data={"grant_type": "client_credentials"}, auth=(key["id"], key["key"])
        )
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    oauth = r.json()
    assert oauth["token_type"] == "Bearer"
    assert oauth["expires_in"] == 900
    assert "refresh_token" not in oauth

    blameless = httpx.post(
        f"{auth}/api/v2/identity/token", headers={"Authorization": key["key"]}, timeout=10
    )
    assert blameless.status_code == 200, blameless.text
    blameless_token = blameless.json()["access_token"]

    incidents = f"{stack.url('incidents')}/v1/incidents"
    for token in (oauth["access_token"], blameless_token):
        ok = httpx.get(incidents, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert ok.status_code == 200, ok.text
        assert "items" in ok.json()
    assert httpx.get(incidents, timeout=10).status_code == 401

    revoked_at = time.monotonic()
    assert identity.delete(f"/v1/api-keys/{key['id']}").status_code == 204

    # Outstanding tokens are refused as soon as KeyRevoked reaches incidents, not at expiry.
    deadline = revoked_at + 10
    refused_after = None
    while time.monotonic() < deadline:
        r = httpx.get(
            incidents, headers={"Authorization": f"Bearer {oauth['access_token']}"}, timeout=10
        )
        if r.status_code == 401:
            refused_after = time.monotonic() - revoked_at
            break
        time.sleep(0.02)
    assert refused_after is not None, "revoked key's token still accepted after 10 s"
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    print(f"revocation reached incidents after {refused_after * 1000:.0f} ms")

    # And the exchange itself is refused.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        again = httpx.post(
            token_url, data={"grant_type": "client_credentials"}, auth=(key["id"], key["key"])
        )
        if again.status_code == 401:
            break
        time.sleep(0.05)
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_client"


def test_secrets_never_reach_any_service_log(stack: Stack) -> None:
    identity = admin_session(stack)
    key = identity.post("/v1/api-keys", json={"name": "log probe"}).json()
    deadline = time.monotonic() + 20
    token = None
    while time.monotonic() < deadline and token is None:
        r = httpx.post(
            f"{stack.url('auth')}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(key["id"], key["key"]),
        )
        if r.status_code == 200:
            token = r.json()["access_token"]
        time.sleep(0.1)
    assert token is not None
    marker = f"log-probe-{uuid.uuid4().hex}"
    httpx.get(
        f"{stack.url('incidents')}/v1/incidents",
        headers={"Authorization": f"Bearer {token}", "X-Correlation-ID": marker},
    )
    # The other processes write their logs themselves: wait for the request's own access line,
    # so everything logged up to it is there to be searched.
    deadline = time.monotonic() + 20
    while marker not in stack.logs():
        assert time.monotonic() < deadline, "the request never reached the incidents log"
        time.sleep(0.05)
    logs = stack.logs()
    assert key["key"] not in logs
    assert token not in logs
    assert stack.admin_password not in logs
