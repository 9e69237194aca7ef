"""Each signing algorithm end to end through auth, and the upgrade of a deployment whose keys
were stored before RS256 and ES256 existed (raw Ed25519 rows, tokens signed as EdDSA)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from fireline_auth.bootstrap import create_app
from fireline_auth.migrations import migrations
from fireline_devtools.postgres import Postgres
from fireline_runtime import jose
from fireline_runtime.migrations import apply, runtime_migrations
from fireline_runtime.secret_box import SecretBox
from fireline_runtime.tokens import InvalidToken, JwksCache, TokenVerifier
from integration.auth.auth_harness import (
    AUDIENCE,
    ISSUER,
    AuthHarness,
    Clock,
    kid_of,
    kids,
    running,
    settings_for,
    token_of,
)
from support import infra
from support.waiting import wait_for

pytestmark = pytest.mark.integration

T0 = datetime(2030, 1, 1, tzinfo=UTC)
PUBLIC_MEMBERS = {"RS256": {"n", "e"}, "ES256": {"crv", "x", "y"}, "Ed25519": {"crv", "x"}}


@pytest.fixture
async def database_url(postgres: Postgres) -> AsyncIterator[str]:
    url = await infra.fresh_database(postgres, "auth_algs")
    yield url
    await infra.drop(postgres, url)


def verifier_of(auth: AuthHarness, clock: Clock | None = None) -> TokenVerifier:
    """The verifier every service runs, fetching the JWKS from auth over HTTP."""
    jwks = JwksCache.from_url(
        auth.client, f"{ISSUER}/.well-known/jwks.json", min_refetch_interval_s=0
    )
    if clock is None:
        return TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE)
    return TokenVerifier(
        jwks, issuer=ISSUER, audience=AUDIENCE, clock=lambda: clock.now.timestamp()
    )


@pytest.mark.parametrize("algorithm", list(jose.Algorithm), ids=str)
async def test_each_algorithm_signs_publishes_and_verifies(
    database_url: str, kafka: str, algorithm: jose.Algorithm
) -> None:
    settings = settings_for(
        database_url, kafka, infra.unique("t") + ".", token_signing_alg=algorithm
    )
    async with running(settings, kafka) as auth:
        key = await auth.create_key()
        token = await token_of(auth, key.client_id, key.secret)

        [jwk] = (await auth.client.get("/.well-known/jwks.json")).json()["keys"]
        assert jwk["alg"] == algorithm
        assert jwk["use"] == "sig"
        assert set(jwk) == {"kty", "kid", "use", "alg", *PUBLIC_MEMBERS[algorithm]}
        assert jwt.get_unverified_header(token) == {
            "alg": str(algorithm),
            "typ": "at+jwt",
            "kid": jwk["kid"],
        }
        principal = await verifier_of(auth).verify(token)
        assert principal.key_id == str(key.key_id)
        # Verifiers whose allow-list lacks the algorithm refuse its tokens outright.
        others = frozenset(jose.ALL_ALGORITHMS - {algorithm})
        narrow = TokenVerifier(
            JwksCache.from_url(auth.client, f"{ISSUER}/.well-known/jwks.json"),
            issuer=ISSUER,
            audience=AUDIENCE,
            algorithms=others,
        )
        with pytest.raises(InvalidToken, match="algorithm not allowed"):
            await narrow.verify(token)


async def store_legacy_key(database_url: str, box: SecretBox, created_at: datetime) -> str:
    """A signing key as the service stored it before this change: raw Ed25519 halves, and the
    algorithm column's value migration 0002 gives every such row."""
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    raw_public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = jose.thumbprint({"kty": "OKP", "crv": "Ed25519", "x": jose.b64url(raw_public)})
    conn = await asyncpg.connect(database_url)
    try:
        await apply(conn, [*runtime_migrations(), *migrations()])
        await conn.execute(
            """
            INSERT INTO signing_keys
                (kid, algorithm, public_key, private_key_encrypted, created_at, activates_at)
            VALUES ($1, 'EdDSA', $2, $3, $4, $4)
            """,
            kid,
            raw_public,
            box.seal(raw_private, kid.encode()),
            created_at,
        )
    finally:
        await conn.close()
    return kid


async def test_an_upgraded_deployment_keeps_its_ed25519_key_then_rotates_to_the_setting(
    database_url: str, kafka: str
) -> None:
    clock = Clock(T0)
    settings = settings_for(
        database_url,
        kafka,
        infra.unique("t") + ".",
        token_signing_alg="ES256",
        signing_key_publish_ahead_s=120,
        signing_key_refresh_s=0.1,
    )
    legacy = await store_legacy_key(
        database_url, SecretBox(settings.encryption_key), T0 - timedelta(days=1)
    )
    async with running(settings, kafka, app=create_app(settings, clock=clock)) as auth:
        key = await auth.create_key()
        verifier = verifier_of(auth, clock)
        old_token = await token_of(auth, key.client_id, key.secret)
        assert jwt.get_unverified_header(old_token)["alg"] == "EdDSA", "as before the upgrade"
        assert kid_of(old_token) == legacy
        assert (await verifier.verify(old_token)).key_id == str(key.key_id)

        async def successor_published() -> bool:
            return len(await kids(auth.client)) == 2

        # The schedule sees a key of another algorithm than the setting: a rotation, published
        # ahead; the legacy key signs until the successor activates.
        assert await wait_for(successor_published, timeout=10)
        jwks = (await auth.client.get("/.well-known/jwks.json")).json()["keys"]
        assert {k["kid"]: k["alg"] for k in jwks}[legacy] == "EdDSA"
        [successor] = [k for k in jwks if k["kid"] != legacy]
        assert successor["alg"] == "ES256"
        assert kid_of(await token_of(auth, key.client_id, key.secret)) == legacy

        clock.advance(seconds=120)
        new_token = await token_of(auth, key.client_id, key.secret)
        assert jwt.get_unverified_header(new_token) == {
            "alg": "ES256",
            "typ": "at+jwt",
            "kid": successor["kid"],
        }
        assert (await verifier.verify(new_token)).key_id == str(key.key_id)
        assert (await verifier.verify(old_token)).key_id == str(key.key_id), (
            "tokens signed as EdDSA still verify until they expire"
        )
