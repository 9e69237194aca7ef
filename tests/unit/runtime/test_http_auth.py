"""What an API client sees when its bearer token is missing, bad, revoked or too weak."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import Depends, FastAPI

from fireline_runtime.http_auth import BearerAuth, CurrentPrincipal, require_scope
from fireline_runtime.keys_view import KeysView
from fireline_runtime.problems import PROBLEM_JSON, install_problem_handlers
from fireline_runtime.revocation import RevokedKeys
from fireline_runtime.tokens import JwksCache, Principal, TokenVerifier

ORG_ID = "6f1c2a9e-3b7d-4e0a-9c51-2d8f0b7e4a13"


ISSUER = "https://auth.fireline.test"
AUDIENCE = "fireline"
NOW = 1_700_000_000

ReadIncidents = Annotated[Principal, Depends(require_scope("incidents:read"))]
WriteIncidents = Annotated[Principal, Depends(require_scope("incidents:write"))]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SigningKey:
    """An auth-service signing key that mints RFC 9068 access tokens."""

    kid = "k1"

    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()

    def jwks(self) -> dict[str, Any]:
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": b64url(raw), "kid": self.kid}]}

    def mint(
        self,
        *,
        key_id: str = "key_1",
        scope: str = "incidents:read",
        subject: str | None = None,
        client_id: str | None = None,
        session_id: str | None = None,
    ) -> str:
        header = {"alg": "EdDSA", "typ": "at+jwt", "kid": self.kid}
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject or key_id,
            "client_id": client_id or key_id,
            "org_id": ORG_ID,
            "scope": scope,
            "iat": NOW,
            "exp": NOW + 900,
            "jti": "jti_1",
        }
        if session_id is not None:
            claims["sid"] = session_id
        signing_input = ".".join(b64url(json.dumps(part).encode()) for part in (header, claims))
        return f"{signing_input}.{b64url(self.private.sign(signing_input.encode()))}"


class JwksEndpoint:
    def __init__(self, key: SigningKey) -> None:
        self.key = key
        self.down = False

    async def __call__(self) -> object:
        if self.down:
            raise httpx.ConnectError("connection refused")
        return self.key.jwks()


@pytest.fixture
def key() -> SigningKey:
    return SigningKey()


@pytest.fixture
def jwks_endpoint(key: SigningKey) -> JwksEndpoint:
    return JwksEndpoint(key)


@pytest.fixture
def revoked() -> RevokedKeys:
    return RevokedKeys()


@pytest.fixture
def view() -> KeysView:
    """A view of identity's keys that is current: one partition, heard from just now."""
    current = KeysView(max_age_s=10)
    current.update(0, 1, time.time())
    return current


@pytest.fixture
def app(jwks_endpoint: JwksEndpoint, revoked: RevokedKeys, view: KeysView) -> FastAPI:
    """A service as its composition root would wire it."""
    verifier = TokenVerifier(
        JwksCache(jwks_endpoint, clock=lambda: 0.0),
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=lambda: float(NOW),
    )
    app = FastAPI()
    app.state.bearer_auth = BearerAuth(verifier, revoked, view)
    install_problem_handlers(app)

    @app.get("/v1/incidents")
    async def list_incidents(principal: ReadIncidents) -> dict[str, str]:
        return {"org_id": str(principal.org_id), "key_id": principal.key_id}

    @app.post("/v1/incidents")
    async def start_incident(principal: WriteIncidents) -> dict[str, str]:
        return {"org_id": str(principal.org_id)}

    @app.get("/v1/whoami")
    async def whoami(principal: CurrentPrincipal) -> dict[str, list[str]]:
        return {"scopes": sorted(principal.scopes)}

    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://incidents.test") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    return body


async def test_good_token_reaches_the_route(client: httpx.AsyncClient, key: SigningKey) -> None:
    response = await client.get("/v1/incidents", headers=bearer(key.mint()))

    assert response.status_code == 200
    assert response.json() == {"org_id": ORG_ID, "key_id": "key_1"}


async def test_scheme_name_is_case_insensitive(client: httpx.AsyncClient, key: SigningKey) -> None:
    response = await client.get("/v1/incidents", headers={"Authorization": f"bearer {key.mint()}"})

    assert response.status_code == 200


async def test_route_without_scope_needs_only_a_valid_token(
    client: httpx.AsyncClient, key: SigningKey
) -> None:
    response = await client.get("/v1/whoami", headers=bearer(key.mint(scope="")))

    assert response.status_code == 200
    assert response.json() == {"scopes": []}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic a2V5OnNlY3JldA=="}, {"Authorization": "Bearer"}],
    ids=["no-header", "basic", "empty-bearer"],
)
async def test_request_without_bearer_token_gets_bare_challenge(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/v1/incidents", headers=headers)

    assert_problem(response, 401, "missing_token")
    # RFC 6750 §3.1: no error code when the client sent no bearer credentials at all.
    assert response.headers["www-authenticate"] == 'Bearer realm="fireline"'


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c"])
async def test_bad_token_gets_invalid_token(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get("/v1/incidents", headers=bearer(token))

    assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == (
        'Bearer realm="fireline", error="invalid_token", error_description="malformed token"'
    )
    assert token not in response.text


async def test_token_signed_by_unpublished_key_gets_invalid_token(
    client: httpx.AsyncClient, key: SigningKey, jwks_endpoint: JwksEndpoint
) -> None:
    jwks_endpoint.key = SigningKey()  # the token's signer is no longer the published key

    response = await client.get("/v1/incidents", headers=bearer(key.mint()))

    assert_problem(response, 401, "invalid_token")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert 'error_description="bad signature"' in response.headers["www-authenticate"]


async def test_token_of_revoked_key_is_refused(
    client: httpx.AsyncClient, key: SigningKey, revoked: RevokedKeys
) -> None:
    token = key.mint(key_id="key_revoked")
    assert (await client.get("/v1/incidents", headers=bearer(token))).status_code == 200

    revoked.add("key_revoked")
    response = await client.get("/v1/incidents", headers=bearer(token))

    assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == (
        'Bearer realm="fireline", error="invalid_token", error_description="key revoked"'
    )
    assert (await client.get("/v1/incidents", headers=bearer(key.mint()))).status_code == 200


async def test_token_lacking_scope_gets_insufficient_scope(
    client: httpx.AsyncClient, key: SigningKey
) -> None:
    response = await client.post("/v1/incidents", headers=bearer(key.mint(scope="incidents:read")))

    body = assert_problem(response, 403, "insufficient_scope")
    assert body["required_scope"] == "incidents:write"
    assert response.headers["www-authenticate"] == (
        'Bearer realm="fireline", error="insufficient_scope", scope="incidents:write"'
    )


async def test_unreachable_signing_keys_get_retryable_503(
    client: httpx.AsyncClient, key: SigningKey, jwks_endpoint: JwksEndpoint
) -> None:
    jwks_endpoint.down = True

    response = await client.get("/v1/incidents", headers=bearer(key.mint()))

    assert_problem(response, 503, "auth_unavailable")
    assert "retry-after" in response.headers
    assert "www-authenticate" not in response.headers


async def test_a_view_of_revocations_older_than_the_bound_vouches_for_no_token(
    client: httpx.AsyncClient, key: SigningKey, revoked: RevokedKeys, view: KeysView
) -> None:
    good, gone = key.mint(), key.mint(key_id="key_revoked")
    revoked.add("key_revoked")
    view.max_age_s = 0.0  # the last watermark is now older than the bound

    response = await client.get("/v1/incidents", headers=bearer(good))

    assert_problem(response, 503, "revocations_unavailable")
    assert int(response.headers["retry-after"]) > 0
    assert "www-authenticate" not in response.headers
    # A key already known to be revoked is still refused for what it is.
    assert_problem(await client.get("/v1/incidents", headers=bearer(gone)), 401, "invalid_token")


async def test_openapi_documents_the_bearer_scheme(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["paths"]["/v1/incidents"]["get"]["security"] == [{"bearer": []}]


async def test_app_without_bearer_auth_fails_closed(key: SigningKey) -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/v1/incidents")
    async def list_incidents(principal: ReadIncidents) -> dict[str, str]:
        return {"org_id": str(principal.org_id)}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://incidents.test") as client:
        response = await client.get("/v1/incidents", headers=bearer(key.mint()))

    assert response.status_code == 500


@pytest.mark.parametrize("scope", ["", "two scopes", 'quote"d', "back\\slash"])
def test_require_scope_rejects_names_that_are_not_oauth_scopes(scope: str) -> None:
    with pytest.raises(ValueError, match="not a valid OAuth scope"):
        require_scope(scope)


async def test_token_of_an_ended_session_is_refused(
    client: httpx.AsyncClient, key: SigningKey, revoked: RevokedKeys
) -> None:
    user_id, session_id = (
        "0b5e7c1a-8f9d-4e2b-a1c3-5d7f9b1e3a50",
        "3c9a1f7e-2d4b-4a6c-8e0f-1b3d5f7a9c21",
    )
    token = key.mint(subject=user_id, client_id="fireline-ui", session_id=session_id)
    assert (await client.get("/v1/incidents", headers=bearer(token))).status_code == 200

    revoked.add(session_id)

    response = await client.get("/v1/incidents", headers=bearer(token))
    assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == (
        'Bearer realm="fireline", error="invalid_token", error_description="session ended"'
    )
    # The same client's other sessions are not touched.
    other = key.mint(subject=user_id, client_id="fireline-ui", session_id=str(UUID(int=7)))
    assert (await client.get("/v1/incidents", headers=bearer(other))).status_code == 200
