"""Token exchange against real PostgreSQL and the Kafka-protocol broker, fed by key events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from fireline_runtime.tokens import InvalidToken
from integration.auth.auth_harness import AUDIENCE, ISSUER, AuthHarness, basic
from support.secrets import tampered
from support.waiting import wait_for

pytestmark = pytest.mark.integration

INVALID_CLIENT = {"error": "invalid_client", "error_description": "Client authentication failed."}


def form(**fields: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", **fields}


async def test_basic_and_form_exchanges_issue_tokens_the_shared_verifier_accepts(
    auth: AuthHarness,
) -> None:
    key = await auth.create_key(scopes=("incidents:read", "incidents:write"))
    by_basic = await auth.client.post(
        "/oauth/token", data=form(), headers=basic(key.client_id, key.secret)
    )
    by_form = await auth.client.post(
        "/oauth/token", data=form(client_id=key.client_id, client_secret=key.secret)
    )
    verifier = auth.verifier()
    for response in (by_basic, by_form):
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"
        body = response.json()
        assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 900
        assert body["scope"] == "incidents:read incidents:write"
        principal = await verifier.verify(body["access_token"])
        assert principal.key_id == str(key.key_id)
        assert principal.org_id == key.org_id
        assert principal.scopes == {"incidents:read", "incidents:write"}
        header = jwt.get_unverified_header(body["access_token"])
        assert header["typ"] == "at+jwt"
        assert header["alg"] == "RS256", "the default FIRELINE_TOKEN_SIGNING_ALG"
        claims = jwt.decode(body["access_token"], options={"verify_signature": False})
        assert claims["iss"] == ISSUER
        assert claims["aud"] == AUDIENCE
        assert claims["sub"] == claims["client_id"] == str(key.key_id)
        assert claims["exp"] - claims["iat"] == 900
    assert by_basic.json()["access_token"] != by_form.json()["access_token"]


async def test_basic_credentials_are_urldecoded(auth: AuthHarness) -> None:
    key = await auth.create_key()
    # Key ids and keys have nothing to escape, but a client that escapes anyway must work.
    escaped = key.client_id.replace("-", "%2D")
    response = await auth.client.post(
        "/oauth/token", data=form(), headers=basic(escaped, key.secret)
    )
    assert response.status_code == 200, response.text


async def test_blameless_endpoint_with_and_without_bearer(auth: AuthHarness) -> None:
    key = await auth.create_key(scopes=("incidents:read",))
    verifier = auth.verifier()
    for header in (key.secret, f"Bearer {key.secret}"):
        response = await auth.client.post(
            "/api/v2/identity/token", headers={"Authorization": header}
        )
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 900
        principal = await verifier.verify(body["access_token"])
        assert principal.key_id == str(key.key_id)
        assert principal.scopes == {"incidents:read"}

    for header in ("", "Bearer ", "flk_nonsense", "Bearer " + tampered(key.secret)):
        response = await auth.client.post(
            "/api/v2/identity/token", headers={"Authorization": header}
        )
        assert response.status_code == 401
        assert response.json() == INVALID_CLIENT
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_invalid_client_is_the_same_answer_whatever_is_wrong(auth: AuthHarness) -> None:
    good = await auth.create_key()
    other = await auth.create_key()
    revoked = await auth.create_key()
    await auth.revoke(revoked)
    expired = await auth.create_key(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    unknown = auth.key_created()  # never published

    cases = {
        "unknown": (unknown.client_id, unknown.secret),
        "revoked": (revoked.client_id, revoked.secret),
        "expired": (expired.client_id, expired.secret),
        "wrong secret": (good.client_id, other.secret),
        "malformed secret": (good.client_id, tampered(good.secret)),
        "not a key id": ("ci-bot", good.secret),
    }
    for n, (case, (client_id, secret)) in enumerate(cases.items()):
        # An address per case keeps these failures under the rate limit and off the shared client.
        client = auth.client_from(f"192.0.2.{100 + n}")
        by_basic = await client.post("/oauth/token", data=form(), headers=basic(client_id, secret))
        assert by_basic.status_code == 401, case
        assert by_basic.json() == INVALID_CLIENT, case
        assert by_basic.headers["www-authenticate"] == 'Basic realm="fireline"', case
        assert by_basic.headers["cache-control"] == "no-store"
        by_form = await client.post(
            "/oauth/token", data=form(client_id=client_id, client_secret=secret)
        )
        assert by_form.status_code == 401, case
        assert by_form.json() == INVALID_CLIENT, case
        assert "www-authenticate" not in by_form.headers, case
        await client.aclose()


async def test_grant_type_errors(auth: AuthHarness) -> None:
    key = await auth.create_key()
    creds = basic(key.client_id, key.secret)
    missing = await auth.client.post("/oauth/token", data={}, headers=creds)
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    for grant in ("password", "authorization_code", "refresh_token"):
        other = await auth.client.post("/oauth/token", data={"grant_type": grant}, headers=creds)
        assert other.status_code == 400
        assert other.json()["error"] == "unsupported_grant_type"
        assert set(other.json()) == {"error", "error_description"}


async def test_scope_must_be_a_subset_of_the_keys(auth: AuthHarness) -> None:
    key = await auth.create_key(scopes=("incidents:read", "incidents:write"))
    creds = basic(key.client_id, key.secret)
    narrowed = await auth.client.post(
        "/oauth/token", data=form(scope="incidents:read"), headers=creds
    )
    assert narrowed.status_code == 200
    assert narrowed.json()["scope"] == "incidents:read"
    principal = await auth.verifier().verify(narrowed.json()["access_token"])
    assert principal.scopes == {"incidents:read"}

    beyond = await auth.client.post(
        "/oauth/token", data=form(scope="incidents:read integrations:write"), headers=creds
    )
    assert beyond.status_code == 400
    assert beyond.json()["error"] == "invalid_scope"


async def test_malformed_requests_are_invalid_request(auth: AuthHarness) -> None:
    key = await auth.create_key()
    both = await auth.client.post(
        "/oauth/token",
        data=form(client_id=key.client_id, client_secret=key.secret),
        headers=basic(key.client_id, key.secret),
    )
    assert both.status_code == 400
    assert both.json()["error"] == "invalid_request"

    as_json = await auth.client.post(
        "/oauth/token", json=form(), headers=basic(key.client_id, key.secret)
    )
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"

    repeated = await auth.client.post(
        "/oauth/token",
        content="grant_type=client_credentials&grant_type=client_credentials",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            **basic(key.client_id, key.secret),
        },
    )
    assert repeated.status_code == 400
    assert repeated.json()["error"] == "invalid_request"

    nothing = await auth.client.post("/oauth/token", data=form())
    assert nothing.status_code == 401
    assert nothing.json() == INVALID_CLIENT


async def test_failed_attempts_are_rate_limited(auth: AuthHarness) -> None:
    limit = auth.settings.failed_auth_limit
    key = await auth.create_key()
    attacker = auth.client_from("198.51.100.23")
    # One client's worth of mistakes (a wrong secret, its budget over) leaves the address usable
    # for the others behind it...
    for _ in range(limit + 1):
        await attacker.post(
            "/oauth/token", data=form(client_id=key.client_id, client_secret=tampered(key.secret))
        )
    other = await auth.create_key()
    fine = await attacker.post(
        "/oauth/token", data=form(client_id=other.client_id, client_secret=other.secret)
    )
    assert fine.status_code == 200, fine.text
    # ...and only the address limit, well above it, refuses every exchange from the address.
    for i in range(auth.settings.failed_auth_address_limit - limit - 1):
        response = await attacker.post(
            "/oauth/token", data=form(client_id="not-a-key-id", client_secret=key.secret)
        )
        assert response.status_code == 401, i
    limited = await attacker.post(
        "/oauth/token", data=form(client_id=key.client_id, client_secret=key.secret)
    )
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["error"] == "rate_limited"
    blameless = await attacker.post("/api/v2/identity/token", headers={"Authorization": key.secret})
    assert blameless.status_code == 429
    # Without trusted proxy hops (the default) X-Forwarded-For cannot buy a fresh address.
    spoofed = await attacker.post(
        "/oauth/token",
        data=form(client_id=key.client_id, client_secret=key.secret),
        headers={"X-Forwarded-For": "192.0.2.200"},
    )
    assert spoofed.status_code == 429
    await attacker.aclose()

    # Guessing one client id from many addresses is limited too...
    target = await auth.create_key()
    for i in range(limit):
        async with auth.client_from(f"203.0.113.{i + 1}") as guesser:
            response = await guesser.post(
                "/oauth/token", data=form(client_id=target.client_id, client_secret=key.secret)
            )
        assert response.status_code == 401, i
    async with auth.client_from("203.0.113.200") as guesser:
        response = await guesser.post(
            "/oauth/token", data=form(client_id=target.client_id, client_secret=key.secret)
        )
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.json()["error"] == "rate_limited"

    # ...but the key id is public (it is every token's sub), so those failures never lock out
    # the owner: the right secret from an address with no failures still gets a token.
    response = await auth.client.post(
        "/oauth/token", data=form(client_id=target.client_id, client_secret=target.secret)
    )
    assert response.status_code == 200, response.text

    # Everyone else is unaffected.
    fine = await auth.client.post(
        "/oauth/token", data=form(client_id=key.client_id, client_secret=key.secret)
    )
    assert fine.status_code == 200


async def test_a_key_revoked_after_issue_cannot_be_exchanged_again(auth: AuthHarness) -> None:
    key = await auth.create_key()
    first = await auth.client.post(
        "/oauth/token", data=form(), headers=basic(key.client_id, key.secret)
    )
    assert first.status_code == 200
    await auth.revoke(key)
    again = await auth.client.post(
        "/oauth/token", data=form(), headers=basic(key.client_id, key.secret)
    )
    assert again.status_code == 401
    assert again.json() == INVALID_CLIENT
    blameless = await auth.client.post(
        "/api/v2/identity/token", headers={"Authorization": key.secret}
    )
    assert blameless.status_code == 401


async def test_a_late_key_created_does_not_resurrect_a_revoked_key(auth: AuthHarness) -> None:
    key = auth.key_created()
    await auth.publish(auth.key_revoked(key))
    await auth.wait_row(key.key_id, revoked_at=...)
    await auth.publish(key.created)
    row = await auth.wait_row(key.key_id, digest=key.digest)
    assert row["revoked_at"] is not None
    response = await auth.client.post(
        "/oauth/token", data=form(), headers=basic(key.client_id, key.secret)
    )
    assert response.status_code == 401


async def test_a_redelivered_event_has_no_second_effect(auth: AuthHarness) -> None:
    key = await auth.create_key()
    await auth.revoke(key)
    state = auth.runtime.consumers.states["auth.key-projection"]
    duplicates_before = state.duplicates
    before = await auth.row(key.key_id)
    await auth.publish(key.created, key.created)

    async def both_seen() -> bool:
        return state.duplicates >= duplicates_before + 2

    assert await wait_for(both_seen, timeout=20)
    assert await auth.row(key.key_id) == before
    response = await auth.client.post(
        "/oauth/token", data=form(), headers=basic(key.client_id, key.secret)
    )
    assert response.status_code == 401


async def test_a_token_of_an_unknown_signing_key_is_refused_by_the_verifier(
    auth: AuthHarness,
) -> None:
    # Sanity check of the proof used above: the verifier does refuse what it cannot verify.
    key = await auth.create_key()
    response = await auth.client.post(
        "/oauth/token", data=form(), headers=basic(key.client_id, key.secret)
    )
    token = response.json()["access_token"]
    head, payload, signature = token.split(".")
    tampered = f"{head}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(InvalidToken):
        await auth.verifier().verify(tampered)
