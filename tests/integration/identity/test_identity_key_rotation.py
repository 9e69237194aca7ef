"""Rotation over HTTP on the real database and broker: a new secret for the same key, the old one's
grace in the list and on the topic, and bad requests that change nothing."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from aiokafka import AIOKafkaProducer

from fireline_contracts import (
    KEY_USAGE,
    KEYS,
    KeyCreated,
    KeyRevoked,
    KeyRotated,
    KeyUsed,
    KeyUsedPayload,
    api_keys,
    parse_event,
)
from support.kafka import client_options, read_topic
from support.waiting import wait_for

if TYPE_CHECKING:
    from integration.identity.conftest import Identity

pytestmark = pytest.mark.integration


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def test_rotation_answers_like_creation_and_the_list_shows_the_grace(
    identity: Identity,
) -> None:
    admin = await identity.login()
    created = (
        await admin.post("/v1/api-keys", json={"name": "deployer", "scopes": ["incidents:read"]})
    ).json()

    rotated = await admin.post(
        f"/v1/api-keys/{created['id']}/rotate", json={"grace_period_minutes": 90}
    )

    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    body = rotated.json()
    assert set(body) == set(created)
    assert {k: body[k] for k in ("id", "name", "scopes", "created_at", "expires_at")} == {
        k: created[k] for k in ("id", "name", "scopes", "created_at", "expires_at")
    }
    assert api_keys.is_well_formed(body["key"])
    assert body["key"] != created["key"]
    assert body["hint"] == "flk_" + body["key"][-4:]

    listed = await admin.get("/v1/api-keys")
    [item] = listed.json()["items"]
    assert body["key"] not in listed.text
    assert item["hint"] == body["hint"]
    rotation = item["rotation"]
    assert rotation["previous_used_at"] is None
    until = datetime.fromisoformat(rotation["previous_valid_until"])
    assert until - datetime.fromisoformat(rotation["rotated_at"]) == timedelta(minutes=90)
    assert item["rotated_at"] == rotation["rotated_at"]

    records = await read_topic(identity.kafka, identity.topic(KEYS), until=2, timeout=20)
    first, second = (parse_event(r.value) for r in records)
    assert isinstance(first, KeyCreated)
    assert isinstance(second, KeyRotated)
    assert second.payload.digest == _digest(body["key"])
    assert second.payload.previous_digest == _digest(created["key"])
    assert second.payload.previous_valid_until == until
    for record in records:
        assert body["key"].encode() not in record.value

    # Revoking ends both secrets: the list stops showing a rotation in progress.
    assert (await admin.delete(f"/v1/api-keys/{created['id']}")).status_code == 204
    everything = await admin.get("/v1/api-keys", params={"include_revoked": "true"})
    [revoked] = everything.json()["items"]
    assert (revoked["status"], revoked["rotation"], revoked["revocation_reason"]) == (
        "revoked",
        None,
        "revoked",
    )


@pytest.mark.parametrize("minutes", [1441, -1, "x"])
async def test_a_bad_grace_period_is_a_problem_and_changes_nothing(
    identity: Identity, minutes: object
) -> None:
    admin = await identity.login()
    created = (await admin.post("/v1/api-keys", json={"name": "k"})).json()

    refused = await admin.post(
        f"/v1/api-keys/{created['id']}/rotate", json={"grace_period_minutes": minutes}
    )

    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    [item] = (await admin.get("/v1/api-keys")).json()["items"]
    assert (item["hint"], item["rotated_at"]) == (created["hint"], None)


async def test_rotating_needs_an_admin_and_a_live_key_of_ones_org(identity: Identity) -> None:
    admin = await identity.login()
    created = (await admin.post("/v1/api-keys", json={"name": "k"})).json()
    await identity.add_user(admin, "member@example.com", "twelve chars or more")
    member = await identity.login("member@example.com", "twelve chars or more")

    assert (await member.post(f"/v1/api-keys/{created['id']}/rotate")).status_code == 403
    assert (await admin.post(f"/v1/api-keys/{uuid.uuid4()}/rotate")).status_code == 404
    await admin.delete(f"/v1/api-keys/{created['id']}")
    frozen = await admin.post(f"/v1/api-keys/{created['id']}/rotate")
    assert (frozen.status_code, frozen.json()["code"]) == (409, "key_revoked")


async def test_a_rotation_does_not_count_against_the_key_limit(identity: Identity) -> None:
    admin = await identity.login()
    ids = [
        (await admin.post("/v1/api-keys", json={"name": f"k{n}"})).json()["id"] for n in range(10)
    ]

    for key_id in ids[:3]:
        assert (await admin.post(f"/v1/api-keys/{key_id}/rotate")).status_code == 200

    assert (await admin.post("/v1/api-keys", json={"name": "k11"})).status_code == 409


async def test_the_old_secrets_use_reported_by_auth_shows_in_the_list(identity: Identity) -> None:
    admin = await identity.login()
    me = (await admin.get("/v1/me")).json()
    created = (await admin.post("/v1/api-keys", json={"name": "machine"})).json()
    await admin.post(f"/v1/api-keys/{created['id']}/rotate")
    used = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
    event = KeyUsed(
        org_id=uuid.UUID(me["org_id"]),
        payload=KeyUsedPayload(key_id=uuid.UUID(created["id"]), used_at=used, previous_secret=True),
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=identity.kafka, enable_idempotence=False, **client_options()
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            identity.topic(KEY_USAGE), event.to_bytes(), key=event.kafka_key.encode()
        )
    finally:
        await producer.stop()

    async def shown() -> bool:
        [item] = (await admin.get("/v1/api-keys")).json()["items"]
        return item["rotation"]["previous_used_at"] is not None

    assert await wait_for(shown, timeout=30)
    [item] = (await admin.get("/v1/api-keys")).json()["items"]
    assert datetime.fromisoformat(item["rotation"]["previous_used_at"]) == used
    assert datetime.fromisoformat(item["last_used_at"]) == used
    # Revocations by an admin say so, for the audit.
    await admin.delete(f"/v1/api-keys/{created['id']}")
    records = await read_topic(identity.kafka, identity.topic(KEYS), until=3, timeout=20)
    revoked = parse_event(records[-1].value)
    assert isinstance(revoked, KeyRevoked)
    assert (revoked.payload.reason, str(revoked.payload.revoked_by)) == ("revoked", me["id"])
