"""API keys as the product promises them: secret once, limit of 10, org isolation, events."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from fireline_contracts import (
    KEY_USAGE,
    KEYS,
    KeyCreated,
    KeyRenamed,
    KeyRevoked,
    KeyUsed,
    KeyUsedPayload,
    api_keys,
    parse_event,
    scopes,
)
from support.kafka import client_options, read_topic
from support.waiting import wait_for

if TYPE_CHECKING:
    from integration.identity.conftest import Identity

pytestmark = pytest.mark.integration

PASSWORD = "twelve chars or more"
LIST_FIELDS = {
    "id",
    "name",
    "hint",
    "scopes",
    "status",
    "created_at",
    "created_by",
    "last_used_at",
    "expires_at",
    "revoked_at",
    "revocation_reason",
    "revocation_report_url",
    "rotated_at",
    "rotation",
}
ALL_SCOPES = list(scopes.ALL_SCOPES)


async def _create(client: httpx.AsyncClient, name: str = "ci", **extra: Any) -> httpx.Response:
    return await client.post("/v1/api-keys", json={"name": name, **extra})


async def test_key_lifecycle_shows_the_secret_only_once(identity: Identity) -> None:
    admin = await identity.login()
    me = (await admin.get("/v1/me")).json()

    created = await _create(admin, "  deploy bot  ")
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {
        "id", "name", "key", "hint", "scopes", "created_at", "created_by", "expires_at",
    }  # fmt: skip
    secret = body["key"]
    assert api_keys.is_well_formed(secret)
    assert body["name"] == "deploy bot"
    assert body["hint"] == "flk_" + secret[-4:]
    assert body["scopes"] == ALL_SCOPES
    assert body["created_by"] == me["id"]
    assert body["expires_at"] is None
    assert created.headers["cache-control"] == "no-store"

    listed = await admin.get("/v1/api-keys")
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert set(item) == LIST_FIELDS
    assert item["status"] == "active"
    assert item["last_used_at"] is None
    assert secret not in listed.text
    assert secret[4:-6] not in listed.text
    assert hashlib.sha256(secret.encode()).hexdigest() not in listed.text

    renamed = await admin.patch(f"/v1/api-keys/{body['id']}", json={"name": "deployer"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "deployer"
    assert set(renamed.json()) == LIST_FIELDS

    revoked = await admin.delete(f"/v1/api-keys/{body['id']}")
    assert revoked.status_code == 204
    assert (await admin.get("/v1/api-keys")).json()["items"] == []
    everything = (await admin.get("/v1/api-keys", params={"include_revoked": "true"})).json()
    [audit] = everything["items"]
    assert audit["status"] == "revoked"
    assert audit["revoked_at"] is not None
    assert audit["name"] == "deployer"

    again = await admin.delete(f"/v1/api-keys/{body['id']}")
    assert again.status_code == 204, "revoking twice is harmless"
    frozen = await admin.patch(f"/v1/api-keys/{body['id']}", json={"name": "later"})
    assert frozen.status_code == 409
    assert frozen.json()["code"] == "key_revoked"


async def test_scopes_and_expiry_are_kept(identity: Identity) -> None:
    admin = await identity.login()
    expires = datetime.now(UTC) + timedelta(days=30)
    created = await _create(
        admin,
        scopes=["integrations:write", "incidents:read", "incidents:read"],
        expires_at=expires.isoformat(),
    )
    assert created.status_code == 201
    body = created.json()
    assert body["scopes"] == ["incidents:read", "integrations:write"]
    assert datetime.fromisoformat(body["expires_at"]) == expires


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 65},
        {"name": "ok", "scopes": ["incidents:delete"]},
        {"name": "ok", "scopes": []},
        {"name": "ok", "expires_at": "2001-01-01T00:00:00Z"},
        {"name": "ok", "expires_at": "2999-01-01T00:00:00"},
        {"name": "ok", "expires_at": "tomorrow"},
        {},
    ],
)
async def test_invalid_keys_are_refused_with_a_validation_problem(
    identity: Identity, body: dict[str, Any]
) -> None:
    admin = await identity.login()
    response = await admin.post("/v1/api-keys", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "validation_error"
    assert (await admin.get("/v1/api-keys?include_revoked=true")).json()["items"] == []


async def test_names_of_64_characters_after_trimming_are_fine(identity: Identity) -> None:
    admin = await identity.login()
    response = await _create(admin, "  " + "n" * 64 + "  ")
    assert response.status_code == 201
    assert response.json()["name"] == "n" * 64


async def test_twenty_concurrent_creates_leave_exactly_ten_active_keys(identity: Identity) -> None:
    admin = await identity.login()
    responses = await asyncio.gather(*(_create(admin, f"key {i}") for i in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 10 + [409] * 10
    refused = [r.json() for r in responses if r.status_code == 409]
    assert {p["code"] for p in refused} == {"key_limit_reached"}
    assert len((await admin.get("/v1/api-keys")).json()["items"]) == 10
    async with identity.runtime.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM api_keys") == 10

    # Revoked and expired keys do not count against the limit.
    first, second = [r.json()["id"] for r in responses if r.status_code == 201][:2]
    assert (await _create(admin)).status_code == 409
    assert (await admin.delete(f"/v1/api-keys/{first}")).status_code == 204
    assert (await _create(admin, "replacement")).status_code == 201
    async with identity.runtime.pool.acquire() as conn:
        await conn.execute(
            "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1",
            uuid.UUID(second),
        )
    assert (await _create(admin, "after expiry")).status_code == 201
    listed = (await admin.get("/v1/api-keys?include_revoked=true")).json()["items"]
    statuses_by_id = {k["id"]: k["status"] for k in listed}
    assert statuses_by_id[first] == "revoked"
    assert statuses_by_id[second] == "expired"
    assert list(statuses_by_id.values()).count("active") == 10
    assert second not in {k["id"] for k in (await admin.get("/v1/api-keys")).json()["items"]}


async def test_another_org_cannot_see_rename_or_revoke_a_key(identity: Identity) -> None:
    admin_a = await identity.login()
    key_a = (await _create(admin_a, "org A key")).json()
    await identity.create_org("org B", "boss@b.example", "org b password!")
    admin_b = await identity.login("boss@b.example", "org b password!")

    assert (await admin_b.get("/v1/api-keys?include_revoked=true")).json()["items"] == []
    renamed = await admin_b.patch(f"/v1/api-keys/{key_a['id']}", json={"name": "mine"})
    assert renamed.status_code == 404
    assert renamed.json()["code"] == "not_found"
    revoked = await admin_b.delete(f"/v1/api-keys/{key_a['id']}")
    assert revoked.status_code == 404
    assert (await admin_b.delete(f"/v1/api-keys/{uuid.uuid4()}")).status_code == 404
    assert (await admin_b.delete("/v1/api-keys/not-a-uuid")).status_code == 404

    [still] = (await admin_a.get("/v1/api-keys")).json()["items"]
    assert (still["name"], still["status"]) == ("org A key", "active")
    # Org B's limit is its own: org A's key does not count.
    for i in range(10):
        assert (await _create(admin_b, f"b{i}")).status_code == 201


async def test_members_can_list_but_not_create_rename_or_revoke(identity: Identity) -> None:
    admin = await identity.login()
    key = (await _create(admin, "shared")).json()
    await identity.add_user(admin, "member@example.com", PASSWORD)
    member = await identity.login("member@example.com", PASSWORD)

    listed = await member.get("/v1/api-keys")
    assert listed.status_code == 200
    assert [k["id"] for k in listed.json()["items"]] == [key["id"]]
    for response in (
        await _create(member, "mine"),
        await member.patch(f"/v1/api-keys/{key['id']}", json={"name": "mine"}),
        await member.delete(f"/v1/api-keys/{key['id']}"),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"
    [unchanged] = (await admin.get("/v1/api-keys")).json()["items"]
    assert (unchanged["name"], unchanged["status"]) == ("shared", "active")


async def test_key_events_carry_the_digest_never_the_secret(identity: Identity) -> None:
    admin = await identity.login()
    me = (await admin.get("/v1/me")).json()
    expires = datetime.now(UTC) + timedelta(days=1)
    body = (
        await _create(admin, "events", scopes=["incidents:read"], expires_at=expires.isoformat())
    ).json()
    await admin.patch(f"/v1/api-keys/{body['id']}", json={"name": "events 2"})
    await admin.delete(f"/v1/api-keys/{body['id']}")

    records = await read_topic(identity.kafka, identity.topic(KEYS), until=3, timeout=20)
    assert len(records) == 3
    assert all(r.key == body["id"].encode() for r in records)
    created, renamed, revoked = (parse_event(r.value) for r in records)
    assert isinstance(created, KeyCreated)
    assert created.payload.digest == hashlib.sha256(body["key"].encode()).hexdigest()
    assert created.payload.scopes == ("incidents:read",)
    assert created.payload.expires_at == expires
    assert str(created.payload.created_by) == me["id"]
    assert str(created.org_id) == me["org_id"]
    assert isinstance(renamed, KeyRenamed)
    assert renamed.payload.name == "events 2"
    # The rename alone must rebuild the key once compaction has dropped the KeyCreated.
    # No rotation in progress, so no replaced secret to carry.
    rotation = {"previous_digest", "previous_valid_until", "renamed_by"}
    assert renamed.payload.model_dump(exclude={"name"} | rotation) == created.payload.model_dump(
        exclude={"name"}
    )
    assert (renamed.payload.previous_digest, renamed.payload.previous_valid_until) == (None, None)
    assert str(renamed.payload.renamed_by) == me["id"]
    assert isinstance(revoked, KeyRevoked)
    assert str(revoked.payload.revoked_by) == me["id"]
    for record in records:
        assert body["key"].encode() not in record.value
        assert body["key"][4:-6].encode() not in record.value


async def _publish(identity: Identity, *events: KeyUsed) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=identity.kafka, enable_idempotence=False, **client_options()
    )
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                identity.topic(KEY_USAGE), event.to_bytes(), key=event.kafka_key.encode()
            )
    finally:
        await producer.stop()


async def test_key_used_events_move_last_used_at_forward_only(identity: Identity) -> None:
    admin = await identity.login()
    me = (await admin.get("/v1/me")).json()
    key = (await _create(admin, "used")).json()
    org = uuid.UUID(me["org_id"])
    key_id = uuid.UUID(key["id"])
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    earlier = later - timedelta(hours=1)

    async def last_used() -> str | None:
        [item] = (await admin.get("/v1/api-keys")).json()["items"]
        value: str | None = item["last_used_at"]
        return value

    await _publish(
        identity,
        KeyUsed(org_id=org, payload=KeyUsedPayload(key_id=uuid.uuid4(), used_at=later)),
        KeyUsed(org_id=org, payload=KeyUsedPayload(key_id=key_id, used_at=later)),
        KeyUsed(org_id=org, payload=KeyUsedPayload(key_id=key_id, used_at=earlier)),
    )
    state = identity.runtime.consumers.states["identity.key-usage"]

    async def all_handled() -> bool:
        return state.processed >= 3

    assert await wait_for(all_handled, timeout=30)
    assert state.dead_lettered == 0, "an unknown key is ignored, not a poison message"
    value = await last_used()
    assert value is not None
    assert datetime.fromisoformat(value) == later
