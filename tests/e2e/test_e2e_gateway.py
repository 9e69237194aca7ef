"""Fireline tokens with clients and servers no one here wrote, on loopback.

* Debian's Apache httpd with mod_auth_openidc, as an OAuth 2.0 resource server in front of the
  incidents API, validating tokens against auth's JWKS (over TLS, as the module insists);
* Authlib's OAuth 2.0 client, doing client credentials with both client authentication methods
  at the token endpoint it discovers from auth's RFC 8414 metadata;
* joserfc, verifying a token against the JWKS the metadata names, with RFC 9068's claims and
  ``typ: at+jwt`` checked.

The stack runs with the default signing algorithm: these prove the default is one they accept.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from support.credentials import admin_session, exchange, new_key
from support.gateway import (
    PACKAGES,
    ApacheGateway,
    JwksTlsFront,
    apt_installable,
    make_certificates,
    missing_apache,
    temporary_root,
)
from support.stack import Stack

pytestmark = pytest.mark.e2e

# What mod_auth_openidc answers for a token it refuses itself; a refusal by the incidents
# service behind it is an RFC 9457 problem instead.
GATEWAY_REFUSAL = 'error_description="JWT token could not be validated"'


@pytest.fixture(scope="module")
def identity(stack: Stack) -> Iterator[httpx.Client]:
    client = admin_session(stack)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def gateway(stack: Stack) -> Iterator[ApacheGateway]:
    reason = missing_apache()
    if reason is not None:
        if apt_installable():
            # CI (.ci/run) installs them; a machine that could and did not is misconfigured.
            pytest.fail(f"{reason}; install them: apt-get install -y {PACKAGES}")
        pytest.skip(f"{reason}, and apt-get cannot install them here (not Debian, or not root)")
    env = stack.env("incidents")
    root = temporary_root()
    try:
        certificates = make_certificates(root)
        with (
            JwksTlsFront(f"{stack.url('auth')}/.well-known/jwks.json", certificates) as front,
            ApacheGateway(
                backend=stack.url("incidents"),
                jwks_uri=front.url,
                ca=certificates.ca,
                issuer=env["FIRELINE_TOKEN_ISSUER"],
                audience=env["FIRELINE_TOKEN_AUDIENCE"],
                root=root,
            ) as apache,
        ):
            yield apache
    finally:
        shutil.rmtree(root, ignore_errors=True)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def through_gateway(gateway: ApacheGateway, token: str) -> httpx.Response:
    return httpx.get(f"{gateway.url}/v1/incidents", headers=bearer(token), timeout=10)


def refused_by_gateway(response: httpx.Response) -> bool:
    return response.status_code == 401 and GATEWAY_REFUSAL in response.headers.get(
        "www-authenticate", ""
    )


def tampered(token: str) -> str:
    """The token with its claims widened (another org) and the original signature kept."""
    header, claims, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    body["org_id"] = "00000000-0000-4000-8000-000000000000"
    encoded = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"


def test_a_fireline_token_passes_the_gateway_and_the_api(
    stack: Stack, identity: httpx.Client, gateway: ApacheGateway
) -> None:
    token = exchange(stack, new_key(identity, "gateway"))
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "RS256", "the default algorithm"

    response = through_gateway(gateway, token)

    assert response.status_code == 200, f"{response.text}\n{gateway.error_log()}"
    assert "items" in response.json()
    # Without a token, or with another's claims under our signature, the gateway answers itself.
    assert httpx.get(f"{gateway.url}/v1/incidents", timeout=10).status_code == 401
    forged = through_gateway(gateway, tampered(token))
    assert refused_by_gateway(forged), forged.headers
    assert "signature verification failed" in gateway.error_log()


def test_an_expired_token_is_refused_by_the_gateway(
    stack: Stack, identity: httpx.Client, gateway: ApacheGateway
) -> None:
    # A key that expires in a few seconds caps its token's exp there (auth's rule).
    expires = datetime.now(UTC) + timedelta(seconds=6)
    r = identity.post(
        "/v1/api-keys", json={"name": "short-lived", "expires_at": expires.isoformat()}
    )
    assert r.status_code == 201, r.text
    token = exchange(stack, r.json())
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["exp"] <= expires.timestamp()
    assert through_gateway(gateway, token).status_code == 200, gateway.error_log()

    # Past exp by the clock the gateway reads too (it allows no skew on exp).
    while time.time() < claims["exp"] + 1:
        time.sleep(0.2)
    response = through_gateway(gateway, token)

    assert refused_by_gateway(response), (response.status_code, response.headers)
    assert "JWT expired" in gateway.error_log()


def test_a_revoked_keys_token_passes_the_gateway_but_not_the_service(
    stack: Stack, identity: httpx.Client, gateway: ApacheGateway
) -> None:
    key = new_key(identity, "revoked behind the gateway")
    token = exchange(stack, key)
    assert through_gateway(gateway, token).status_code == 200

    assert identity.delete(f"/v1/api-keys/{key['id']}").status_code == 204

    # The token is still valid by signature and exp, all the gateway can know: it forwards the
    # request, and the incidents service, which hears of revocations, refuses it.
    deadline = time.monotonic() + 20
    refused = through_gateway(gateway, token)
    while refused.status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
        refused = through_gateway(gateway, token)
    assert refused.status_code == 401, "incidents never refused the revoked key's token"
    assert refused.headers["content-type"].startswith("application/problem+json"), (
        "answered by the service, not by the gateway"
    )
    assert not refused_by_gateway(refused)


def metadata(stack: Stack) -> dict[str, Any]:
    response = httpx.get(f"{stack.url('auth')}/.well-known/oauth-authorization-server", timeout=10)
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_gets_a_token_from_the_discovered_endpoint(
    stack: Stack, identity: httpx.Client, gateway: ApacheGateway, method: str
) -> None:
    key = new_key(identity, f"authlib {method}")
    exchange(stack, key)  # the key has reached auth through Kafka
    discovered = metadata(stack)
    assert method in discovered["token_endpoint_auth_methods_supported"]
    sent: list[Any] = []  # the requests Authlib prepared, as they went out

    def record(response: Any, *args: object, **kwargs: object) -> None:
        sent.append(response.request)

    # Authlib's requests integration: its httpx one is deprecated in this Authlib release.
    with OAuth2Session(
        client_id=key["id"], client_secret=key["key"], token_endpoint_auth_method=method
    ) as client:
        client.hooks["response"].append(record)
        token = client.fetch_token(discovered["token_endpoint"], grant_type="client_credentials")
        assert token["token_type"] == "Bearer"
        # Authlib attaches the token itself; through the gateway to the API.
        read = client.get(f"{gateway.url}/v1/incidents", timeout=10)

    assert read.status_code == 200, read.text
    [request] = [r for r in sent if r.path_url == "/oauth/token"]
    body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
    if method == "client_secret_basic":
        assert request.headers["Authorization"].startswith("Basic ")
        assert "client_secret" not in body
    else:
        assert "Authorization" not in request.headers
        assert "client_secret=" in body


def test_joserfc_verifies_a_token_against_the_discovered_jwks(
    stack: Stack, identity: httpx.Client
) -> None:
    key = new_key(identity, "joserfc")
    token = exchange(stack, key)
    discovered = metadata(stack)
    key_set = KeySet.import_key_set(httpx.get(discovered["jwks_uri"], timeout=10).json())

    decoded = jwt.decode(token, key_set, algorithms=["RS256"])

    # RFC 9068 §2.1 / §4: the header's type, and the claims a resource server must check.
    assert decoded.header["typ"] == "at+jwt"
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": discovered["issuer"]},
        aud={"essential": True, "value": stack.env("incidents")["FIRELINE_TOKEN_AUDIENCE"]},
        sub={"essential": True, "value": key["id"]},
        client_id={"essential": True, "value": key["id"]},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
    )
    registry.validate(decoded.claims)
    with pytest.raises(BadSignatureError):
        jwt.decode(tampered(token), key_set, algorithms=["RS256"])
