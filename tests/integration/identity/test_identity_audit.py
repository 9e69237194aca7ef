"""The audit log on the real database and broker: entries from every producer's events, once each,
never with a secret; filters, cursors, the export, admins only, and rows that cannot be changed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from fireline_contracts import (
    INTEGRATIONS,
    KEY_EXCHANGE_FAILURES,
    EventEnvelope,
    IntegrationChanged,
    IntegrationChangedPayload,
    KeyExchangeFailed,
    KeyExchangeFailedPayload,
    TopicSpec,
)
from fireline_identity.service_layer import audit
from support.kafka import client_options
from support.waiting import wait_for

if TYPE_CHECKING:
    from integration.identity.conftest import Identity

pytestmark = pytest.mark.integration

PASSWORD = "twelve chars or more"


async def _send(identity: Identity, spec: TopicSpec, *events: EventEnvelope) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=identity.kafka, enable_idempotence=False, **client_options()
    )
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                identity.topic(spec), event.to_bytes(), key=event.kafka_key.encode()
            )
    finally:
        await producer.stop()


async def _entries(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/audit-events", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _wait_for_actions(
    client: httpx.AsyncClient,
    expected: set[str],
    at_least: dict[str, int] | None = None,
    **params: Any,
) -> list[dict[str, Any]]:
    """The entries once every expected action is there (``at_least`` times, where given)."""
    found: list[dict[str, Any]] = []
    wanted = {action: 1 for action in expected} | (at_least or {})

    async def arrived() -> bool:
        found[:] = await _entries(client, **params)
        actions = [e["action"] for e in found]
        return all(actions.count(action) >= n for action, n in wanted.items())

    assert await wait_for(arrived, timeout=30), {e["action"] for e in found}
    return found


async def test_identity_changes_logins_and_other_services_events_become_entries(
    identity: Identity,
) -> None:
    with_failure = identity.client(address="203.0.113.5")
    refused = await with_failure.post(
        "/v1/session", json={"email": identity.admin_email, "password": "not it at all"}
    )
    assert refused.status_code == 401
    admin = await identity.login(address="192.0.2.10")
    me = (await admin.get("/v1/me")).json()
    created = (await admin.post("/v1/api-keys", json={"name": "deployer"})).json()
    assert (await admin.patch(f"/v1/api-keys/{created['id']}", json={"name": "ci"})).is_success
    assert (await admin.delete(f"/v1/api-keys/{created['id']}")).status_code == 204
    member = await identity.add_user(admin, "ops@example.com", PASSWORD)
    member_session = await identity.login("ops@example.com", PASSWORD)
    patched = await admin.patch(f"/v1/users/{member['id']}", json={"role": "admin"})
    assert patched.is_success
    patched = await admin.patch(f"/v1/users/{member['id']}", json={"active": False})
    assert patched.is_success
    assert (await member_session.get("/v1/me")).status_code == 401
    org = uuid.UUID(me["org_id"])
    key_id = uuid.UUID(created["id"])
    integration_id = uuid.uuid4()
    failed = KeyExchangeFailed(
        org_id=org,
        payload=KeyExchangeFailedPayload(
            key_id=key_id,
            window_start=datetime.now(UTC).replace(second=0, microsecond=0),
            attempts=7,
            addresses=("198.51.100.4",),
        ),
    )
    changed = IntegrationChanged(
        org_id=org,
        payload=IntegrationChangedPayload(
            integration_id=integration_id, name="checkout", changed_by_key=key_id, changed=("name",)
        ),
    )
    await _send(identity, KEY_EXCHANGE_FAILURES, failed, failed)  # a redelivery
    await _send(identity, INTEGRATIONS, changed)

    entries = await _wait_for_actions(
        admin,
        {
            "login.failed",
            "login.succeeded",
            "key.created",
            "key.renamed",
            "key.revoked",
            "user.created",
            "user.updated",
            "user.deactivated",
            "session.revoked",
            "key.exchange_failed",
            "integration.changed",
        },
        # Events of different users and keys travel on different partitions: wait for each one.
        at_least={"login.succeeded": 2, "user.updated": 1},
    )

    by_action: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_action.setdefault(entry["action"], []).append(entry)
    admin_actor = {"type": "user", "id": me["id"]}
    for action in ("key.created", "key.renamed", "key.revoked", "user.created"):
        assert by_action[action][0]["actor"] == admin_actor, action
    assert by_action["key.revoked"][0]["target"] == {"type": "key", "id": created["id"]}
    assert by_action["login.failed"][0]["address"] == "203.0.113.5"
    assert {e["address"] for e in by_action["login.succeeded"]} >= {"192.0.2.10"}
    [ended] = by_action["session.revoked"]
    assert ended["details"]["reason"] == "user_deactivated"
    assert ended["actor"] == admin_actor
    [exchange] = by_action["key.exchange_failed"]  # the redelivered copy added nothing
    assert exchange["actor"] == {"type": "key", "id": created["id"]}
    assert exchange["details"]["attempts"] == 7
    assert by_action["integration.changed"][0]["actor"] == {"type": "key", "id": created["id"]}
    times = [e["occurred_at"] for e in entries]
    assert times == sorted(times, reverse=True)
    text = json.dumps(entries)
    assert created["key"] not in text
    assert "digest" not in text
    assert "not it at all" not in text
    assert PASSWORD not in text


async def test_filters_cursor_and_export_agree(identity: Identity) -> None:
    admin = await identity.login()
    made = [
        (await admin.post("/v1/api-keys", json={"name": f"k{i}"})).json()["id"] for i in range(4)
    ]

    # Keys spread over partitions, so their entries may land in any order: wait for all four.
    async def all_recorded() -> bool:
        found = await _entries(admin, action="key.created")
        return set(made) <= {e["target"]["id"] for e in found}

    assert await wait_for(all_recorded, timeout=30)

    first = await admin.get("/v1/audit-events", params={"action": "key.created", "limit": 3})
    assert first.status_code == 200
    cursor = first.json()["next_cursor"]
    assert cursor is not None
    second = await admin.get(
        "/v1/audit-events", params={"action": "key.created", "limit": 3, "cursor": cursor}
    )
    paged = [e["target"]["id"] for e in first.json()["items"] + second.json()["items"]]
    assert sorted(paged) == sorted(made)
    assert second.json()["next_cursor"] is None

    only = await _entries(admin, target=made[1])
    assert [e["target"]["id"] for e in only] == [made[1]]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert await _entries(admin, since=future) == []

    export = await admin.get("/v1/audit-events/export", params={"action": "key.created"})
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("application/jsonl")
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert [e["target"]["id"] for e in lines] == paged

    # A cursor means nothing under other filters: refused, not silently misapplied.
    foreign = await admin.get(
        "/v1/audit-events", params={"action": "key.revoked", "cursor": cursor}
    )
    assert foreign.status_code == 422
    assert foreign.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "params",
    [
        {"action": "key.exploded"},
        {"actor": "somebody"},
        {"target": "not-an-id"},
        {"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"},
        {"since": "yesterday"},
        {"since": "2030-01-01T00:00:00"},  # no offset: which instant is meant?
        # RFC 3339 only: pydantic alone reads these as Unix timestamps or a bare date.
        {"until": "0.5"},
        {"since": "1700000000"},
        {"until": "2030-01-01"},
        {"since": "2030-01-01 00:00:00Z"},
        # At the calendar's edges an instant overflows on its way to UTC.
        {"since": "0001-01-01T00:00:00+01:00"},
        {"until": "9999-12-31T23:59:59-01:00"},
        {"cursor": "bm90IGEgY3Vyc29y"},
        {"limit": "0"},
    ],
)
async def test_bad_filters_are_problem_details(identity: Identity, params: dict[str, str]) -> None:
    admin = await identity.login()

    # The export takes no cursor or limit, so those are only the paged list's to refuse.
    paged_only = {"cursor", "limit"} & params.keys()
    paths = ["/v1/audit-events"] + ([] if paged_only else ["/v1/audit-events/export"])
    for path in paths:
        response = await admin.get(path, params=params)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_only_admins_read_the_log(identity: Identity) -> None:
    admin = await identity.login()
    await identity.add_user(admin, "member@example.com", PASSWORD)
    member = await identity.login("member@example.com", PASSWORD)

    for path in ("/v1/audit-events", "/v1/audit-events/export"):
        refused = await member.get(path)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert (await identity.client().get(path)).status_code == 401


async def test_entries_cannot_be_updated(identity: Identity) -> None:
    admin = await identity.login()
    await _wait_for_actions(admin, {"login.succeeded"})

    conn = await asyncpg.connect(identity.settings.database_url)
    try:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE audit_events SET action = 'key.created'")
        # Details are stored as JSON objects (queryable), not as encoded strings.
        kinds = await conn.fetch("SELECT DISTINCT jsonb_typeof(details) AS kind FROM audit_events")
        assert [k["kind"] for k in kinds] == ["object"]
    finally:
        await conn.close()


async def test_retention_deletes_only_entries_older_than_it(identity: Identity) -> None:
    admin = await identity.login()
    [recent] = await _wait_for_actions(admin, {"login.succeeded"}, action="login.succeeded")
    conn = await asyncpg.connect(identity.settings.database_url)
    try:
        await conn.execute(
            """
            INSERT INTO audit_events (id, org_id, occurred_at, action, actor_type, target_type,
                                      target_id)
            SELECT $1, org_id, now() - interval '400 days', action, actor_type, target_type,
                   target_id
            FROM audit_events WHERE id = $2
            """,
            uuid.uuid4(),
            uuid.UUID(recent["id"]),
        )
        assert len(await _entries(admin, action="login.succeeded")) == 2

        more = await audit.prune(uow=identity.context.uow(), retention=timedelta(days=365))

        assert more is False
        assert [e["id"] for e in await _entries(admin, action="login.succeeded")] == [recent["id"]]
    finally:
        await conn.close()
