"""The webhook endpoints API and the incidents consumer, against real PostgreSQL and Kafka.

The service runs in-process; requests carry access tokens minted by
:class:`support.token_issuer.TokenIssuer` (verified through its JWKS, as auth's would be), and
incident events are published on the prefixed incidents topic the way the incidents service
publishes them. Every refusal is checked to change nothing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from standardwebhooks import Webhook

from fireline_contracts import (
    INCIDENTS,
    IncidentSource,
    topic_name,
)
from fireline_devtools.postgres import Postgres
from fireline_notifications.bootstrap import create_app
from fireline_notifications.config import Settings
from fireline_runtime.service import ServiceRuntime
from support import infra
from support.in_process import serving
from support.incident_events import incident_started
from support.kafka import client_options
from support.token_issuer import ALL_SCOPES, TokenIssuer
from support.webhook_receiver import Received, WebhookReceiver

pytestmark = pytest.mark.integration

ISSUER = "http://auth.fireline.test"
AUDIENCE = "fireline-api"
WAIT_S = 30.0


@dataclass
class Service:
    client: httpx.AsyncClient
    tokens: TokenIssuer
    producer: AIOKafkaProducer
    prefix: str
    receiver: WebhookReceiver
    runtime: ServiceRuntime

    async def arrived(self, path: str, count: int) -> list[Received]:
        # In a thread: the service under test shares this event loop and must keep running.
        return await asyncio.to_thread(self.receiver.wait, path, count, WAIT_S)

    def headers(self, org: uuid.UUID, scopes: Sequence[str] = ALL_SCOPES) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.token(org_id=org, scopes=scopes)}"}

    async def create(self, org: uuid.UUID, **body: Any) -> dict[str, Any]:
        r = await self.client.post("/v1/webhook-endpoints", json=body, headers=self.headers(org))
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    async def listed(self, org: uuid.UUID) -> list[dict[str, Any]]:
        r = await self.client.get("/v1/webhook-endpoints", headers=self.headers(org))
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items


@pytest.fixture(scope="module")
async def service(postgres: Postgres, kafka: str) -> AsyncIterator[Service]:
    database = await infra.fresh_database(postgres, "notifications")
    prefix = infra.unique("t") + "."
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka, enable_idempotence=False, **client_options()
    )
    await producer.start()
    try:
        with TokenIssuer(issuer_url=ISSUER, audience=AUDIENCE) as tokens, WebhookReceiver() as r:
            settings = Settings(
                database_url=database,
                kafka_bootstrap_servers=kafka,
                topic_prefix=prefix,
                kafka_session_timeout_ms=6000,
                outbox_poll_interval_s=0.2,
                jwks_url=tokens.jwks_url,
                token_issuer=ISSUER,
                token_audience=AUDIENCE,
                notifications_encryption_key=base64.urlsafe_b64encode(os.urandom(32)).decode(),
                notifications_allowed_hosts="127.0.0.1",
            )
            app = create_app(settings)
            async with serving(app, join_timeout=WAIT_S) as client:
                yield Service(client, tokens, producer, prefix, r, app.state.runtime)
    finally:
        await producer.stop()
        await infra.drop(postgres, database)


async def test_an_incident_event_on_kafka_reaches_the_endpoint_signed(service: Service) -> None:
    org = uuid.uuid4()
    hook = await service.create(org, url=service.receiver.url("/kafka"))
    incident = uuid.uuid4()
    event = incident_started(
        org,
        incident_id=incident,
        title="Queue backlog",
        source=IncidentSource(kind="pagerduty", external_id="PABC"),
    )

    await service.producer.send_and_wait(
        topic_name(INCIDENTS, service.prefix), event.to_bytes(), key=event.kafka_key.encode()
    )

    (got,) = await service.arrived("/kafka", 1)
    body = Webhook(hook["secret"]).verify(got.body, got.headers)
    assert body["type"] == "incident.started"
    assert body["data"]["incident_id"] == str(incident)
    assert body["data"]["number"] == 7


async def test_the_secret_is_in_the_creation_answer_only(service: Service) -> None:
    org = uuid.uuid4()
    r = await service.client.post(
        "/v1/webhook-endpoints",
        json={"url": service.receiver.url("/a"), "event_types": ["incident.started"]},
        headers=service.headers(org),
    )

    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    secret = r.json()["secret"]
    got = await service.client.get(
        f"/v1/webhook-endpoints/{r.json()['id']}", headers=service.headers(org)
    )
    assert got.status_code == 200
    assert "secret" not in got.json()
    assert secret not in json.dumps(await service.listed(org))
    assert got.json()["event_types"] == ["incident.started"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"url": "https://10.0.0.1/x"}, 422, "url_refused"),
        ({"url": "http://example.com/x"}, 422, "url_refused"),
        ({"url": "https://[fe80::1]/x"}, 422, "url_refused"),
        (
            {"url": "http://127.0.0.1:1/x", "event_types": ["incident.exploded"]},
            422,
            "invalid_endpoint",
        ),
        ({"url": "http://127.0.0.1:1/x", "format": "teams"}, 422, None),
        ({"url": "http://127.0.0.1:1/x", "secret": "whsec_mine"}, 422, None),
        ({"url": "http://127.0.0.1:1/x\u0000"}, 400, "invalid_text"),
        ({}, 422, None),
    ],
)
async def test_bad_input_is_a_problem_and_stores_nothing(
    service: Service, body: dict[str, Any], status: int, code: str | None
) -> None:
    org = uuid.uuid4()

    r = await service.client.post("/v1/webhook-endpoints", json=body, headers=service.headers(org))

    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if code is not None:
        assert r.json()["code"] == code
    assert await service.listed(org) == []


async def test_writes_need_the_write_scope_and_a_token(service: Service) -> None:
    org = uuid.uuid4()
    reader = service.headers(org, scopes=["webhooks:read"])
    body = {"url": service.receiver.url("/scoped")}

    refused = await service.client.post("/v1/webhook-endpoints", json=body, headers=reader)
    anonymous = await service.client.post("/v1/webhook-endpoints", json=body)

    assert (refused.status_code, anonymous.status_code) == (403, 401)
    assert await service.listed(org) == []


async def test_another_orgs_endpoint_and_a_malformed_id_are_not_found(service: Service) -> None:
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    hook = await service.create(theirs, url=service.receiver.url("/theirs"))

    for path in (f"/{hook['id']}", "/not-a-uuid", f"/{hook['id']}/deliveries"):
        r = await service.client.get(f"/v1/webhook-endpoints{path}", headers=service.headers(mine))
        assert r.status_code == 404, (path, r.text)
    deleted = await service.client.delete(
        f"/v1/webhook-endpoints/{hook['id']}", headers=service.headers(mine)
    )
    assert deleted.status_code == 404
    assert [e["id"] for e in await service.listed(theirs)] == [hook["id"]]


async def test_a_patch_to_a_refused_url_changes_nothing(service: Service) -> None:
    org = uuid.uuid4()
    hook = await service.create(org, url=service.receiver.url("/keep"), description="before")

    r = await service.client.patch(
        f"/v1/webhook-endpoints/{hook['id']}",
        json={"url": "https://169.254.169.254/", "description": "after"},
        headers=service.headers(org),
    )

    assert r.status_code == 422, r.text
    (kept,) = await service.listed(org)
    assert (kept["url"], kept["description"]) == (hook["url"], "before")


async def test_a_paused_endpoint_refuses_a_test_and_resumes_on_enable(service: Service) -> None:
    org = uuid.uuid4()
    hook = await service.create(org, url=service.receiver.url("/paused"))
    base = f"/v1/webhook-endpoints/{hook['id']}"
    headers = service.headers(org)

    paused = await service.client.patch(base, json={"enabled": False}, headers=headers)
    refused = await service.client.post(f"{base}/test", headers=headers)
    resumed = await service.client.patch(base, json={"enabled": True}, headers=headers)
    sent = await service.client.post(f"{base}/test", headers=headers)

    assert paused.json()["disabled_reason"] == "admin"
    assert refused.status_code == 409
    assert refused.json()["code"] == "endpoint_disabled"
    assert (resumed.json()["enabled"], resumed.json()["disabled_reason"]) == (True, None)
    assert sent.status_code == 202
    (got,) = await service.arrived("/paused", 1)
    assert got.headers["webhook-id"] == sent.json()["webhook_id"]


async def test_the_log_refuses_a_forged_cursor_and_an_unknown_delivery(service: Service) -> None:
    org = uuid.uuid4()
    hook = await service.create(org, url=service.receiver.url("/log"))
    base = f"/v1/webhook-endpoints/{hook['id']}/deliveries"
    forged = base64.urlsafe_b64encode(b"attempt:-1").decode()

    bad_cursor = await service.client.get(
        base, params={"cursor": forged}, headers=service.headers(org)
    )
    unknown = await service.client.post(
        f"{base}/{uuid.uuid4()}/retry", headers=service.headers(org)
    )

    assert (bad_cursor.status_code, bad_cursor.json()["code"]) == (400, "invalid_cursor")
    assert unknown.status_code == 404


async def test_a_rotation_answers_the_new_secret_once(service: Service) -> None:
    org = uuid.uuid4()
    hook = await service.create(org, url=service.receiver.url("/rotate"))

    r = await service.client.post(
        f"/v1/webhook-endpoints/{hook['id']}/rotate-secret", headers=service.headers(org)
    )

    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.json()["secret"].startswith("whsec_")
    assert r.json()["secret"] != hook["secret"]


async def test_admins_changes_go_out_for_the_audit_log_with_their_key_and_no_secret(
    service: Service,
) -> None:
    org, key = uuid.uuid4(), uuid.uuid4()
    headers = {"Authorization": f"Bearer {service.tokens.token(org_id=org, key_id=key)}"}
    url = service.receiver.url("/audited?token=s3cr3t")
    created = await service.client.post("/v1/webhook-endpoints", json={"url": url}, headers=headers)
    base = f"/v1/webhook-endpoints/{created.json()['id']}"

    await service.client.patch(base, json={"description": "pager"}, headers=headers)
    await service.client.patch(base, json={"description": "pager"}, headers=headers)  # no change
    await service.client.post(f"{base}/rotate-secret", headers=headers)
    await service.client.delete(base, headers=headers)

    async with service.runtime.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT event_type, payload FROM outbox WHERE kafka_key = $1 ORDER BY id",
            created.json()["id"],
        )
    assert [r["event_type"] for r in rows] == [
        "WebhookEndpointCreated",
        "WebhookEndpointChanged",
        "WebhookEndpointSecretRotated",
        "WebhookEndpointDeleted",
    ]
    payloads = [json.loads(bytes(r["payload"]))["payload"] for r in rows]
    assert {p["changed_by_key"] for p in payloads} == {str(key)}
    assert {p["host"] for p in payloads} == {"127.0.0.1"}
    assert payloads[1]["changed"] == ["description"]
    everything = b"".join(bytes(r["payload"]) for r in rows)
    assert b"s3cr3t" not in everything
    assert created.json()["secret"].encode() not in everything
