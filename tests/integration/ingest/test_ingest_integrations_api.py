"""The integrations API: org-scoped CRUD, scopes, secrets that are never shown again."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from fireline_contracts import AlertTriggered
from integration.ingest.ingest_harness import (
    PUBLIC_URL,
    IngestApp,
    bearer,
)
from support.pagerduty_fixtures import delivery, signed
from support.token_issuer import TokenIssuer
from support.waiting import wait_for

pytestmark = pytest.mark.integration

BASE = "/v1/integrations/pagerduty"
PD_SECRET = "pagerduty-signing-secret-0001"
PD_SECRET_2 = "pagerduty-signing-secret-0002"
PD_SECRET_3 = "pagerduty-signing-secret-0003"
API_TOKEN = "u+pagerduty-rest-api-token"


@pytest.fixture
def org() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def token(issuer: TokenIssuer, org: uuid.UUID) -> str:
    return issuer.token(org_id=org)


def _no_secret_in(document: Any, *secrets: str) -> bool:
    text = str(document)
    return not any(secret in text for secret in secrets)


async def test_creating_without_secrets_shows_a_generated_secret_once(
    svc: IngestApp, token: str
) -> None:
    response = await svc.client.post(
        BASE,
        json={
            "name": "Checkout",
            "pagerduty_api_token": API_TOKEN,
            "default_severity": "SEV2",
            "default_incident_type": "Outage",
        },
        headers=bearer(token),
    )

    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    secret = created["signing_secret"]
    assert len(secret) >= 32
    assert created["webhook_url"] == f"{PUBLIC_URL}/webhooks/pagerduty/{created['id']}"
    assert created["has_api_token"] is True
    assert created["pagerduty_api_url"] == "https://api.pagerduty.com"
    assert (created["default_severity"], created["default_incident_type"]) == ("SEV2", "Outage")
    assert created["active_secret_count"] == 1
    assert API_TOKEN not in response.text

    fetched = (await svc.client.get(f"{BASE}/{created['id']}", headers=bearer(token))).json()
    listed = (await svc.client.get(BASE, headers=bearer(token))).json()
    assert "signing_secret" not in fetched
    assert _no_secret_in(fetched, secret, API_TOKEN)
    assert _no_secret_in(listed, secret, API_TOKEN)
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    assert fetched["active_signing_secrets"] == created["active_signing_secrets"]

    # The generated secret is the one the receiver checks.
    body = delivery("pagey_ping")
    accepted = await svc.deliver(created["id"], body, signed(body, secret))
    assert accepted.status_code == 202


async def test_supplied_secrets_are_never_echoed(svc: IngestApp, token: str) -> None:
    response = await svc.client.post(
        BASE,
        json={"name": "Payments", "signing_secrets": [PD_SECRET, PD_SECRET_2]},
        headers=bearer(token),
    )

    assert response.status_code == 201
    created = response.json()
    assert "signing_secret" not in created
    assert created["active_secret_count"] == 2
    assert created["has_api_token"] is False
    assert _no_secret_in(response.text, PD_SECRET, PD_SECRET_2)


async def test_secrets_and_tokens_are_stored_encrypted(svc: IngestApp, token: str) -> None:
    await svc.create_integration(token, signing_secrets=[PD_SECRET], pagerduty_api_token=API_TOKEN)

    async with svc.runtime.pool.acquire() as conn:
        tokens = await conn.fetch("SELECT api_token_ciphertext FROM integrations")
        secrets = await conn.fetch("SELECT ciphertext FROM signing_secrets")
    stored = b"".join(bytes(r[0]) for r in [*tokens, *secrets])
    assert PD_SECRET.encode() not in stored
    assert API_TOKEN.encode() not in stored


async def test_more_than_two_secrets_at_creation_are_refused(svc: IngestApp, token: str) -> None:
    response = await svc.client.post(
        BASE,
        json={"name": "Too many", "signing_secrets": [PD_SECRET, PD_SECRET_2, PD_SECRET_3]},
        headers=bearer(token),
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "secret_limit_reached"
    assert (await svc.client.get(BASE, headers=bearer(token))).json()["items"] == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "  "}, "invalid_integration"),
        ({"name": "x", "pagerduty_api_url": "pd"}, "invalid_integration"),
        ({"name": "x", "pagerduty_api_url": "ftp://api.pagerduty.com"}, "api_url_not_allowed"),
        ({"name": "x", "signing_secrets": ["short"]}, "invalid_signing_secret"),
        ({"name": "x", "unknown_field": 1}, "validation_error"),
        ({}, "validation_error"),
    ],
)
async def test_invalid_integrations_are_refused_with_a_clear_code(
    svc: IngestApp, token: str, body: dict[str, Any], code: str
) -> None:
    response = await svc.client.post(BASE, json=body, headers=bearer(token))

    assert response.status_code == 422
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    "api_url",
    [
        "https://evil.test",
        "http://api.pagerduty.com",
        "https://169.254.169.254/latest",
        "http://10.0.0.7:8080",
    ],
)
async def test_an_api_url_outside_the_allow_list_is_refused_and_nothing_is_stored(
    svc: IngestApp, token: str, api_url: str
) -> None:
    response = await svc.client.post(
        BASE,
        json={"name": "Exfiltrate", "pagerduty_api_token": API_TOKEN, "pagerduty_api_url": api_url},
        headers=bearer(token),
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "api_url_not_allowed"
    assert "pagerduty_api_url" in problem["detail"]
    assert API_TOKEN not in response.text
    assert (await svc.client.get(BASE, headers=bearer(token))).json()["items"] == []
    async with svc.runtime.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM integrations") == 0


async def test_loopback_is_allowed_when_the_operator_lists_it(svc: IngestApp, token: str) -> None:
    # The test settings list 127.0.0.1 (a local PagerDuty double), but not localhost.
    created = await svc.create_integration(token, pagerduty_api_url="http://127.0.0.1:9/")
    assert created["pagerduty_api_url"] == "http://127.0.0.1:9"

    refused = await svc.client.post(
        BASE, json={"name": "x", "pagerduty_api_url": "http://localhost:9"}, headers=bearer(token)
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "api_url_not_allowed"


async def test_changing_the_api_url_to_a_host_not_allowed_is_refused_and_changes_nothing(
    svc: IngestApp, token: str
) -> None:
    created = await svc.create_integration(
        token, pagerduty_api_token=API_TOKEN, pagerduty_api_url="https://api.eu.pagerduty.com"
    )
    url = f"{BASE}/{created['id']}"

    for api_url in ("https://api.pagerduty.com@evil.test/", "https://evil.test"):
        response = await svc.client.patch(
            url, json={"name": "Renamed", "pagerduty_api_url": api_url}, headers=bearer(token)
        )
        assert response.status_code == 422, api_url
        assert response.json()["code"] in {"api_url_not_allowed", "invalid_integration"}
    refused = await svc.client.patch(
        url, json={"pagerduty_api_url": "https://evil.test"}, headers=bearer(token)
    )
    assert refused.json()["code"] == "api_url_not_allowed"

    unchanged = (await svc.client.get(url, headers=bearer(token))).json()
    assert unchanged["pagerduty_api_url"] == "https://api.eu.pagerduty.com"
    assert unchanged["name"] == "Checkout"
    assert unchanged["updated_at"] == created["updated_at"]


async def test_secret_rotation_keeps_at_most_two_active(svc: IngestApp, token: str) -> None:
    created = await svc.create_integration(token, signing_secrets=[PD_SECRET])
    url = f"{BASE}/{created['id']}"
    old_id = created["active_signing_secrets"][0]["id"]

    added = await svc.client.patch(
        url, json={"add_signing_secret": PD_SECRET_2}, headers=bearer(token)
    )
    assert added.status_code == 200
    assert added.json()["active_secret_count"] == 2
    assert _no_secret_in(added.text, PD_SECRET, PD_SECRET_2)

    third = await svc.client.patch(
        url, json={"add_signing_secret": PD_SECRET_3}, headers=bearer(token)
    )
    assert third.status_code == 422
    assert third.json()["code"] == "secret_limit_reached"

    rotated = await svc.client.patch(
        url,
        json={"retire_signing_secret_ids": [old_id], "generate_signing_secret": True},
        headers=bearer(token),
    )
    assert rotated.status_code == 200
    document = rotated.json()
    assert document["active_secret_count"] == 2
    assert old_id not in [s["id"] for s in document["active_signing_secrets"]]
    generated = document["signing_secret"]

    # The retired secret no longer verifies; the two active ones do.
    body = delivery("pagey_ping")
    retired = await svc.deliver(created["id"], body, signed(body, PD_SECRET))
    assert retired.status_code == 401
    for secret in (PD_SECRET_2, generated):
        assert (await svc.deliver(created["id"], body, signed(body, secret))).status_code == 202


async def test_replacing_the_secrets_and_refusing_to_retire_the_last(
    svc: IngestApp, token: str
) -> None:
    created = await svc.create_integration(token, signing_secrets=[PD_SECRET, PD_SECRET_2])
    url = f"{BASE}/{created['id']}"

    replaced = await svc.client.patch(
        url, json={"signing_secrets": [PD_SECRET_3]}, headers=bearer(token)
    )
    assert replaced.status_code == 200
    only = replaced.json()["active_signing_secrets"]
    assert len(only) == 1

    emptied = await svc.client.patch(
        url, json={"retire_signing_secret_ids": [only[0]["id"]]}, headers=bearer(token)
    )
    assert emptied.status_code == 422
    assert emptied.json()["code"] == "no_active_secret"


async def test_renaming_changing_defaults_and_clearing_the_token(
    svc: IngestApp, token: str
) -> None:
    created = await svc.create_integration(
        token, pagerduty_api_token=API_TOKEN, default_severity="SEV2"
    )
    url = f"{BASE}/{created['id']}"

    response = await svc.client.patch(
        url,
        json={
            "name": "Checkout (EU)",
            "default_severity": None,
            "default_incident_type": "Degradation",
            "pagerduty_api_url": "https://api.eu.pagerduty.com/",
        },
        headers=bearer(token),
    )
    assert response.status_code == 200
    updated = response.json()
    assert updated["name"] == "Checkout (EU)"
    assert updated["default_severity"] is None
    assert updated["default_incident_type"] == "Degradation"
    assert updated["pagerduty_api_url"] == "https://api.eu.pagerduty.com"
    assert updated["has_api_token"] is True, "the token is kept unless changed"
    assert "signing_secret" not in updated

    cleared = await svc.client.patch(url, json={"pagerduty_api_token": None}, headers=bearer(token))
    assert cleared.json()["has_api_token"] is False
    restored = await svc.client.patch(
        url,
        json={"pagerduty_api_token": "new-token", "pagerduty_api_url": None},
        headers=bearer(token),
    )
    assert restored.json()["has_api_token"] is True
    assert restored.json()["pagerduty_api_url"] == "https://api.pagerduty.com"


async def test_another_orgs_integration_is_not_found(
    svc: IngestApp, token: str, issuer: TokenIssuer
) -> None:
    created = await svc.create_integration(token)
    url = f"{BASE}/{created['id']}"
    stranger = issuer.token(org_id=uuid.uuid4())

    assert (await svc.client.get(url, headers=bearer(stranger))).status_code == 404
    assert (
        await svc.client.patch(url, json={"name": "mine"}, headers=bearer(stranger))
    ).status_code == 404
    assert (await svc.client.delete(url, headers=bearer(stranger))).status_code == 404
    assert (await svc.client.get(BASE, headers=bearer(stranger))).json()["items"] == []
    assert (await svc.client.get(url, headers=bearer(token))).json()["name"] == "Checkout"


@pytest.mark.parametrize("raw_id", ["not-a-uuid", str(uuid.uuid4())])
async def test_an_unknown_integration_id_is_not_found(
    svc: IngestApp, token: str, raw_id: str
) -> None:
    response = await svc.client.get(f"{BASE}/{raw_id}", headers=bearer(token))

    assert response.status_code == 404
    assert response.json()["code"] == "integration_not_found"


async def test_scopes_are_enforced(svc: IngestApp, issuer: TokenIssuer, org: uuid.UUID) -> None:
    reader = issuer.token(org_id=org, scopes="integrations:read")
    writer = issuer.token(org_id=org, scopes="integrations:write")
    unrelated = issuer.token(org_id=org, scopes="incidents:read")

    assert (await svc.client.get(BASE)).status_code == 401
    assert (await svc.client.get(BASE, headers=bearer("garbage"))).status_code == 401
    assert (await svc.client.get(BASE, headers=bearer(unrelated))).status_code == 403
    assert (await svc.client.get(BASE, headers=bearer(reader))).status_code == 200
    denied = await svc.client.post(BASE, json={"name": "x"}, headers=bearer(reader))
    assert denied.status_code == 403
    assert denied.json()["code"] == "insufficient_scope"
    created = await svc.client.post(BASE, json={"name": "x"}, headers=bearer(writer))
    assert created.status_code == 201
    url = f"{BASE}/{created.json()['id']}"
    assert (await svc.client.get(url, headers=bearer(writer))).status_code == 403
    assert (await svc.client.delete(url, headers=bearer(reader))).status_code == 403


async def test_a_deleted_integration_stops_receiving_webhooks(svc: IngestApp, token: str) -> None:
    created = await svc.create_integration(token, signing_secrets=[PD_SECRET])
    url = f"{BASE}/{created['id']}"
    body = delivery("pagey_ping")
    assert (await svc.deliver(created["id"], body, signed(body, PD_SECRET))).status_code == 202

    deleted = await svc.client.delete(url, headers=bearer(token))

    assert deleted.status_code == 204
    assert (await svc.client.get(url, headers=bearer(token))).status_code == 404
    assert (await svc.client.get(BASE, headers=bearer(token))).json()["items"] == []

    async def refused() -> bool:
        again = await svc.deliver(created["id"], body, signed(body, PD_SECRET))
        return again.status_code == 404

    # The receiver's cached copy is dropped when the deletion's NOTIFY reaches this replica's
    # listener, a few milliseconds after the 204 (fireline_runtime.notify_cache); CI once sent
    # a delivery inside that gap.
    assert await wait_for(refused, timeout=10)
    assert (await svc.client.delete(url, headers=bearer(token))).status_code == 404
    async with svc.runtime.pool.acquire() as conn:
        live = await conn.fetchval(
            "SELECT count(*) FROM signing_secrets WHERE ciphertext IS NOT NULL"
        )
    assert live == 0, "a deleted integration keeps no secret material"


async def test_the_priority_map_is_edited_through_the_api_and_maps_published_alerts(
    svc: IngestApp, token: str
) -> None:
    created = await svc.create_integration(token, signing_secrets=[PD_SECRET])
    url = f"{BASE}/{created['id']}"
    assert created["priority_severities"] == {f"P{n}": f"SEV{n}" for n in range(1, 6)}

    edited = await svc.client.patch(
        url, json={"priority_severities": {" p1 ": "Critical"}}, headers=bearer(token)
    )
    refused = [
        await svc.client.patch(url, json={"priority_severities": bad}, headers=bearer(token))
        for bad in ({"P1": " "}, {"P1": "SEV1", "p1": "SEV2"})
    ]
    body = delivery("incident_triggered", incident_id="QPRIORITYMAP1")
    accepted = await svc.deliver(created["id"], body, signed(body, PD_SECRET))
    [alert] = await svc.alerts(until=1)
    restored = await svc.client.patch(
        url, json={"priority_severities": None}, headers=bearer(token)
    )

    assert edited.status_code == 200, edited.text
    assert edited.json()["priority_severities"] == {"p1": "Critical"}
    assert [(r.status_code, r.json()["code"]) for r in refused] == [
        (422, "invalid_integration"),
        (422, "invalid_integration"),
    ]
    assert accepted.status_code == 202
    assert isinstance(alert, AlertTriggered)
    assert (alert.payload.priority, alert.payload.priority_severity) == ("P1", "Critical")
    assert restored.json()["priority_severities"]["P1"] == "SEV1"
