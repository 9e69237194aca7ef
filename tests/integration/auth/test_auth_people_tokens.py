"""Tokens for people: auth as the web UI backend's token server (RFC 7523 JWT bearer grant)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest

from fireline_devtools.postgres import Postgres
from integration.auth.auth_harness import AUDIENCE, ISSUER, AuthHarness, running, settings_for
from support import infra

UI_SECRET = "ui-client-secret-for-tests-0123456789"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture(scope="module")
async def auth(postgres: Postgres, kafka: str) -> AsyncIterator[AuthHarness]:
    url = await infra.fresh_database(postgres, "auth")
    try:
        settings = settings_for(
            url, kafka, infra.unique("t") + ".", ui_client_secret_text=UI_SECRET
        )
        async with running(settings, kafka) as harness:
            yield harness
    finally:
        await infra.drop(postgres, url)


def assertion(user: uuid.UUID, org: uuid.UUID, session: uuid.UUID, **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "fireline-ui",
        "aud": ISSUER,
        "sub": str(user),
        "org_id": str(org),
        "sid": str(session),
        "role": "member",
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
        **overrides,
    }
    return jwt.encode(claims, UI_SECRET, algorithm="HS256")


async def test_a_person_gets_an_at_jwt_that_every_service_verifies(auth: AuthHarness) -> None:
    user, org, session = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    response = await auth.client.post(
        "/oauth/token",
        data={"grant_type": JWT_BEARER, "assertion": assertion(user, org, session)},
    )

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "incidents:read incidents:write"
    assert "refresh_token" not in body
    token = body["access_token"]
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    claims = jwt.decode(token, options={"verify_signature": False}, audience=AUDIENCE)
    assert claims["sub"] == str(user)
    assert claims["sid"] == str(session)
    assert claims["client_id"] == "fireline-ui"
    assert claims["org_id"] == str(org)
    assert claims["exp"] - claims["iat"] == 900
    # The verifier every service runs accepts it and sees the person.
    principal = await auth.verifier().verify(token)
    assert (principal.user_id, principal.session_id, principal.org_id) == (user, session, org)
    assert principal.scopes == {"incidents:read", "incidents:write"}


async def test_a_bad_assertion_gets_invalid_grant_and_no_token(auth: AuthHarness) -> None:
    user, org, session = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    forged = jwt.encode(
        jwt.decode(
            assertion(user, org, session, role="admin"),
            UI_SECRET,
            algorithms=["HS256"],
            audience=ISSUER,
        ),
        "another-secret-of-at-least-32-bytes!",
        algorithm="HS256",
    )
    for bad in (forged, assertion(user, org, session, aud="http://other.test"), "not.a.jwt"):
        response = await auth.client.post(
            "/oauth/token", data={"grant_type": JWT_BEARER, "assertion": bad}
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_grant"
        assert "access_token" not in response.text

    missing = await auth.client.post("/oauth/token", data={"grant_type": JWT_BEARER})
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_grant"


async def test_metadata_tells_of_the_jwt_bearer_grant(auth: AuthHarness) -> None:
    doc = (await auth.client.get("/.well-known/oauth-authorization-server")).json()

    assert doc["grant_types_supported"] == ["client_credentials", JWT_BEARER]
    # No authorization endpoint: people log in at identity, whose backend holds their tokens.
    assert "authorization_endpoint" not in doc
    assert doc["response_types_supported"] == []
