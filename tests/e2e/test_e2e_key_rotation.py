"""Key rotation and leaked keys end to end: identity → Kafka → auth, over HTTP only.

Rotation: a steady stream of exchanges with the old secret never fails before the grace period
ends and is refused from then on, while the new secret works throughout. Secret scanning: a signed
report revokes exactly the live key it names; the same report again changes nothing.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.credentials import admin_session, exchange, new_key
from support.secret_scanning import Scanner, report, write_keys_file
from support.stack import Stack

pytestmark = pytest.mark.e2e

# Requests of each stream come from an address of their own: auth limits failed attempts per
# client address, and the old secret's refusals must not spend the new secret's budget.
OLD_SECRET_FROM = "127.0.0.2"
NEW_SECRET_FROM = "127.0.0.3"
PACE_S = 0.05


@dataclass
class Stream:
    """Exchanges of one secret, one after another: (started, ended, status) in epoch seconds."""

    results: list[tuple[float, float, int]] = field(default_factory=list)

    async def run(
        self, url: str, key_id: str, secret: str, source: str, stop: asyncio.Event
    ) -> None:
        transport = httpx.AsyncHTTPTransport(local_address=source)
        async with httpx.AsyncClient(transport=transport, timeout=10) as client:
            while not stop.is_set():
                started = time.time()
                r = await client.post(
                    url, data={"grant_type": "client_credentials"}, auth=(key_id, secret)
                )
                self.results.append((started, time.time(), r.status_code))
                await asyncio.sleep(PACE_S)


def test_rotation_under_a_steady_stream_of_exchanges_with_the_old_secret(stack: Stack) -> None:
    identity = admin_session(stack)
    key = new_key(identity, "e2e rotation")
    exchange(stack, key)  # the key has reached auth
    token_url = f"{stack.url('auth')}/oauth/token"

    async def scenario() -> tuple[Stream, Stream, float, dict[str, Any]]:
        stop = asyncio.Event()
        old, new = Stream(), Stream()
        old_task = asyncio.create_task(
            old.run(token_url, key["id"], key["key"], OLD_SECRET_FROM, stop)
        )
        await asyncio.sleep(0.5)  # the stream is flowing before the rotation
        rotated = identity.post(
            f"/v1/api-keys/{key['id']}/rotate", json={"grace_period_minutes": 1}
        )
        assert rotated.status_code == 200, rotated.text
        body = rotated.json()
        assert (body["id"], body["name"]) == (key["id"], key["name"])
        [item] = [k for k in identity.get("/v1/api-keys").json()["items"] if k["id"] == key["id"]]
        grace_end = datetime.fromisoformat(item["rotation"]["previous_valid_until"]).timestamp()
        new_task = asyncio.create_task(
            new.run(token_url, key["id"], body["key"], NEW_SECRET_FROM, stop)
        )
        # Run until the old secret has been refused for a while (bounded by the grace + 20 s).
        deadline = grace_end + 20
        while time.time() < deadline:
            refused = [r for r in old.results if r[2] != 200]
            if refused and time.time() > refused[0][1] + 3:
                break
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(old_task, new_task)
        listed = identity.get("/v1/api-keys").json()["items"]
        [after] = [k for k in listed if k["id"] == key["id"]]
        return old, new, grace_end, after

    old, new, grace_end, after = asyncio.run(scenario())

    before_end = [r for r in old.results if r[1] < grace_end]
    assert len(before_end) > 100, "a steady stream over the whole grace period"
    assert {status for _, _, status in before_end} == {200}, "no failure before the grace ended"
    refused = [r for r in old.results if r[2] != 200]
    assert refused, "the old secret was never refused"
    first_refusal = refused[0]
    # Enforced by auth's clock: refused from the first exchange that started after the end.
    after_end = [r for r in old.results if r[0] >= first_refusal[0]]
    assert {status for _, _, status in after_end} <= {401, 429}
    assert all(status != 200 for _, _, status in after_end)
    last_success = max(r[1] for r in old.results if r[2] == 200)
    print(
        f"old secret: {len(before_end)} exchanges before the grace end, all 200; last success "
        f"ended {1000 * (last_success - grace_end):+.0f} ms from it, first refusal started "
        f"{1000 * (first_refusal[0] - grace_end):+.0f} ms from it"
    )
    assert first_refusal[0] - grace_end < 1.0, "refused within the revocation latency"

    # The new secret: refused only until KeyRotated reached auth, then never again.
    first_ok = next(i for i, r in enumerate(new.results) if r[2] == 200)
    assert {status for _, _, status in new.results[first_ok:]} == {200}
    print(
        f"new secret: {len(new.results) - first_ok} exchanges, all 200, after "
        f"{first_ok} refused while KeyRotated travelled"
    )
    # The rotation is over: the list no longer shows one in progress.
    assert after["rotation"] is None
    assert after["status"] == "active"


def test_a_signed_report_revokes_exactly_the_live_key_and_again_changes_nothing(
    stack: Stack, scanning_keys_file: Path
) -> None:
    scanner = Scanner("e2e-scanner")
    write_keys_file(scanning_keys_file, scanner)
    identity = admin_session(stack)
    live = new_key(identity, "e2e leaked")
    dead = new_key(identity, "e2e revoked")
    assert identity.delete(f"/v1/api-keys/{dead['id']}").status_code == 204
    bystander = new_key(identity, "e2e bystander")
    exchange(stack, live)
    random_token = "flk_" + "A" * 33
    body = report(
        live["key"], dead["key"], random_token, url="https://github.com/acme/x/blob/1/.env"
    )
    scanning_url = f"{stack.url('identity')}/v1/secret-scanning/github"

    answer = httpx.post(scanning_url, content=body, headers=scanner.headers(body), timeout=10)

    assert answer.status_code == 200, answer.text
    assert [(t["token_raw"], t["label"]) for t in answer.json()] == [
        (live["key"], "true_positive"),
        (dead["key"], "true_positive"),
        (random_token, "false_positive"),
    ]
    revoked_at = time.monotonic()
    everything = identity.get("/v1/api-keys", params={"include_revoked": "true"}).json()["items"]
    by_id = {k["id"]: k for k in everything}
    assert (by_id[live["id"]]["status"], by_id[live["id"]]["revocation_reason"]) == (
        "revoked",
        "leaked",
    )
    assert by_id[live["id"]]["revocation_report_url"] == "https://github.com/acme/x/blob/1/.env"
    assert by_id[dead["id"]]["revocation_reason"] == "revoked"
    assert by_id[bystander["id"]]["status"] == "active"

    # The leaked key stops exchanging once KeyRevoked reaches auth.
    deadline = revoked_at + 10
    while True:
        r = httpx.post(
            f"{stack.url('auth')}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(live["id"], live["key"]),
            timeout=10,
        )
        if r.status_code == 401:
            break
        assert time.monotonic() < deadline, "the leaked key still exchanges after 10 s"
        time.sleep(0.05)
    lag_ms = 1000 * (time.monotonic() - revoked_at)
    print(f"leaked key refused by auth {lag_ms:.0f} ms after the report was answered")
    exchange(stack, bystander)

    again = httpx.post(scanning_url, content=body, headers=scanner.headers(body), timeout=10)
    assert again.json() == answer.json()
    unchanged = identity.get("/v1/api-keys", params={"include_revoked": "true"}).json()["items"]

    def state(keys: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        # Use moves last_used_at (the bystander was just exchanged); everything else must stay.
        return {k["id"]: {f: v for f, v in k.items() if f != "last_used_at"} for k in keys}

    assert state(unchanged) == state(everything)


def _status_with(stack: Stack, service: str, path: str, token: str) -> int:
    r = httpx.get(
        f"{stack.url(service)}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    return r.status_code


def _active(stack: Stack, key: dict[str, str], token: str) -> bool:
    r = httpx.post(
        f"{stack.url('auth')}/oauth/introspect",
        data={"token": token},
        auth=(key["id"], key["key"]),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return bool(r.json()["active"])


PROTECTED = [("incidents", "/v1/incidents"), ("pagerduty-ingest", "/v1/integrations/pagerduty")]


def test_a_rotation_without_grace_ends_the_old_secrets_tokens_everywhere(stack: Stack) -> None:
    identity = admin_session(stack)
    key = new_key(identity, "e2e rotation without grace")
    try:
        old_token = exchange(stack, key)
        assert [_status_with(stack, s, p, old_token) for s, p in PROTECTED] == [200, 200]

        rotated = identity.post(
            f"/v1/api-keys/{key['id']}/rotate", json={"grace_period_minutes": 0}
        )
        assert rotated.status_code == 200, rotated.text
        new = {"id": key["id"], "key": rotated.json()["key"]}
        new_token = exchange(stack, new)  # KeyRotated has reached auth

        # KeyRotated travels to each service like a KeyRevoked; 30 s is far beyond that.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            statuses = [_status_with(stack, s, p, old_token) for s, p in PROTECTED]
            if statuses == [401, 401]:
                break
            time.sleep(0.1)
        assert statuses == [401, 401], "the old secret's token still works"
        assert [_status_with(stack, s, p, new_token) for s, p in PROTECTED] == [200, 200]
        assert not _active(stack, new, old_token)
        assert _active(stack, new, new_token)
    finally:
        # The shared org keeps a free key slot for the tests after this one.
        identity.delete(f"/v1/api-keys/{key['id']}")
