"""Introspection (RFC 7662), discovery documents, KeyUsed coalescing and secret-free logs."""

from __future__ import annotations

import logging

import pytest

from fireline_contracts import KEY_USAGE, KeyUsed, parse_event, topic_name
from fireline_runtime.observability import JsonFormatter
from integration.auth.auth_harness import AUDIENCE, ISSUER, AuthHarness, Key, basic
from support.kafka import read_topic
from support.secrets import tampered
from support.waiting import wait_for

pytestmark = pytest.mark.integration

INACTIVE = {"active": False}


async def exchange(auth: AuthHarness, key: Key, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    response = await auth.client.post(
        "/oauth/token", data=data, headers=basic(key.client_id, key.secret)
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def test_introspection_of_an_active_token(auth: AuthHarness) -> None:
    subject = await auth.create_key(scopes=("incidents:read", "incidents:write"))
    caller = await auth.create_key(org_id=subject.org_id)
    token = await exchange(auth, subject, "incidents:read")

    by_basic = await auth.client.post(
        "/oauth/introspect", data={"token": token}, headers=basic(caller.client_id, caller.secret)
    )
    by_form = await auth.client.post(
        "/oauth/introspect",
        data={"token": token, "client_id": caller.client_id, "client_secret": caller.secret},
    )
    for response in (by_basic, by_form):
        assert response.status_code == 200
        body = response.json()
        assert body["exp"] - body["iat"] == 900
        assert body == {
            "active": True,
            "scope": "incidents:read",
            "client_id": subject.client_id,
            "sub": subject.client_id,
            "exp": body["exp"],
            "iat": body["iat"],
            "iss": ISSUER,
            "aud": AUDIENCE,
            "token_type": "Bearer",
            "org_id": str(subject.org_id),
            "jti": body["jti"],
        }


async def test_introspection_reports_only_inactive_otherwise(auth: AuthHarness) -> None:
    subject = await auth.create_key()
    caller = await auth.create_key(org_id=subject.org_id)
    stranger = await auth.create_key()  # another org
    token = await exchange(auth, subject)

    async def introspect(who: Key, candidate: str) -> dict[str, object]:
        response = await auth.client.post(
            "/oauth/introspect", data={"token": candidate}, headers=basic(who.client_id, who.secret)
        )
        assert response.status_code == 200
        result: dict[str, object] = response.json()
        return result

    assert await introspect(stranger, token) == INACTIVE, "another org's token"
    assert await introspect(caller, "not-a-jwt") == INACTIVE
    head, payload, _ = token.split(".")
    assert await introspect(caller, f"{head}.{payload}.AAAA") == INACTIVE, "bad signature"
    assert await introspect(caller, subject.secret) == INACTIVE, "an API key is not a token"

    await auth.revoke(subject)
    assert await introspect(caller, token) == INACTIVE, "its key was revoked"


async def test_introspection_requires_client_authentication(auth: AuthHarness) -> None:
    subject = await auth.create_key()
    token = await exchange(auth, subject)
    anonymous = await auth.client.post("/oauth/introspect", data={"token": token})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"

    wrong = await auth.client.post(
        "/oauth/introspect",
        data={"token": token},
        headers=basic(subject.client_id, tampered(subject.secret)),
    )
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == 'Basic realm="fireline"'

    missing_token = await auth.client.post(
        "/oauth/introspect", data={}, headers=basic(subject.client_id, subject.secret)
    )
    assert missing_token.status_code == 400
    assert missing_token.json()["error"] == "invalid_request"


async def test_metadata_document(auth: AuthHarness) -> None:
    response = await auth.client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    doc = response.json()
    assert doc["issuer"] == ISSUER
    assert doc["token_endpoint"] == f"{ISSUER}/oauth/token"
    assert doc["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert doc["introspection_endpoint"] == f"{ISSUER}/oauth/introspect"
    assert doc["grant_types_supported"] == ["client_credentials"]
    assert doc["response_types_supported"] == []
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert doc["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert "incidents:read" in doc["scopes_supported"]


async def test_without_a_ui_client_people_get_no_tokens(auth: AuthHarness) -> None:
    response = await auth.client.post(
        "/oauth/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "a.b.c"},
    )

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_openapi_documents_the_form_bodies(auth: AuthHarness) -> None:
    response = await auth.client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    token = paths["/oauth/token"]["post"]["requestBody"]["content"]
    assert "grant_type" in token["application/x-www-form-urlencoded"]["schema"]["properties"]
    assert "/oauth/introspect" in paths
    assert "/api/v2/identity/token" in paths


async def test_jwks_publishes_public_keys_only_with_a_short_cache(auth: AuthHarness) -> None:
    response = await auth.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=60"
    keys = response.json()["keys"]
    assert len(keys) == 1
    (jwk,) = keys
    assert set(jwk) == {"kty", "n", "e", "kid", "use", "alg"}, "public members only"
    assert (jwk["kty"], jwk["use"], jwk["alg"]) == ("RSA", "sig", "RS256")


async def test_key_used_is_coalesced_to_one_per_key_per_minute(auth: AuthHarness) -> None:
    key = await auth.create_key()
    other = await auth.create_key()
    for _ in range(3):
        await exchange(auth, key)
    blameless = await auth.client.post(
        "/api/v2/identity/token", headers={"Authorization": key.secret}
    )
    assert blameless.status_code == 200
    await exchange(auth, other)

    runtime = auth.runtime
    assert runtime.relay is not None
    relay = runtime.relay

    async def all_published() -> bool:
        return bool(await relay.pending() == 0)

    assert await wait_for(all_published, timeout=20)
    async with runtime.pool.acquire() as conn:
        total = await conn.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'KeyUsed'")
    records = await read_topic(
        auth.kafka, topic_name(KEY_USAGE, auth.settings.topic_prefix), until=total
    )
    events = [parse_event(r.value) for r in records]
    assert all(isinstance(e, KeyUsed) for e in events)
    mine = [e for e in events if isinstance(e, KeyUsed) and e.payload.key_id == key.key_id]
    assert len(mine) == 1
    assert mine[0].org_id == key.org_id
    theirs = [e for e in events if isinstance(e, KeyUsed) and e.payload.key_id == other.key_id]
    assert len(theirs) == 1


async def test_logs_carry_no_keys_tokens_or_digests(
    auth: AuthHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = await auth.create_key()
    token = await exchange(auth, key)
    await auth.client.post(
        "/oauth/introspect", data={"token": token}, headers=basic(key.client_id, key.secret)
    )
    await auth.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(key.client_id, tampered(key.secret)),
    )
    await auth.client.post("/api/v2/identity/token", headers={"Authorization": key.secret})
    await auth.client.post(
        "/api/v2/identity/token", headers={"Authorization": "Bearer " + key.secret[:-2] + "00"}
    )
    await auth.revoke(key)

    # aiokafka's DEBUG lines dump raw records, including the test's own KeyCreated (which carries
    # the digest, as identity's does); services run aiokafka at WARNING (observability.py).
    records = [
        r
        for r in caplog.records
        if not r.name.startswith("aiokafka") or r.levelno >= logging.WARNING
    ]
    formatter = JsonFormatter("auth")
    text = "\n".join(formatter.format(r) for r in records)
    assert any(r.name == "fireline.access" for r in records), "the requests were logged"
    secrets = [key.secret, key.secret[4:-6], token, token.split(".")[2], key.digest]
    for secret in secrets:
        assert secret not in text
    async with auth.runtime.pool.acquire() as conn:
        sealed = await conn.fetch("SELECT private_key_encrypted FROM signing_keys")
    for row in sealed:
        assert bytes(row["private_key_encrypted"]).hex() not in text
