"""Signing keys: created once, encrypted at rest, published before use, retired after use."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_private_key

from fireline_auth.bootstrap import create_app
from fireline_auth.config import Settings
from fireline_auth.domain.errors import ConfigurationError
from fireline_auth.entrypoints.cli import rotate_keys
from fireline_devtools.postgres import Postgres
from fireline_runtime.secret_box import SecretBox
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.tokens import InvalidToken, JwksCache, TokenVerifier
from integration.auth.auth_harness import (
    AUDIENCE,
    ISSUER,
    AuthHarness,
    Clock,
    basic,
    encryption_key,
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


@pytest.fixture
async def database_url(postgres: Postgres) -> AsyncIterator[str]:
    url = await infra.fresh_database(postgres, "auth_keys")
    yield url
    await infra.drop(postgres, url)


async def introspect(auth: AuthHarness, token: str, client_id: str, secret: str) -> dict[str, Any]:
    response = await auth.client.post(
        "/oauth/introspect", data={"token": token}, headers=basic(client_id, secret)
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_rotation_publishes_first_signs_later_and_retires_after_the_last_token(
    database_url: str, kafka: str
) -> None:
    clock = Clock(T0)
    settings = settings_for(
        database_url,
        kafka,
        infra.unique("t") + ".",
        signing_key_publish_ahead_s=120,
        signing_key_refresh_s=0.1,
    )
    app = create_app(settings, clock=clock)
    async with running(settings, kafka, app=app) as auth:
        key = await auth.create_key()
        verifier = TokenVerifier(
            JwksCache.from_url(
                auth.client, f"{ISSUER}/.well-known/jwks.json", min_refetch_interval_s=0
            ),
            issuer=ISSUER,
            audience=AUDIENCE,
            clock=lambda: clock.now.timestamp(),
        )
        (old_kid,) = await kids(auth.client)
        old_token = await token_of(auth, key.client_id, key.secret)
        assert kid_of(old_token) == old_kid

        clock.advance(seconds=10)
        rotated = await rotate_keys(settings, now=clock.now)
        assert rotated.created
        new_kid = rotated.key.kid
        assert rotated.key.activates_at == clock.now + timedelta(seconds=120)

        async def published() -> bool:
            return await kids(auth.client) == [old_kid, new_kid]

        assert await wait_for(published, timeout=10), "the new key is published at once"
        assert kid_of(await token_of(auth, key.client_id, key.secret)) == old_kid, (
            "but does not sign before it was published long enough"
        )
        again = await rotate_keys(settings, now=clock.now)
        assert not again.created
        assert again.key.kid == new_kid, "a second rotation waits for the pending key"

        clock.advance(seconds=120)
        new_token = await token_of(auth, key.client_id, key.secret)
        assert kid_of(new_token) == new_kid
        assert (await verifier.verify(new_token)).key_id == key.client_id
        assert (await verifier.verify(old_token)).key_id == key.client_id
        assert await kids(auth.client) == [old_kid, new_kid], "old tokens still verify"

        # Retired at T0+130 s; its last token expires 900 s later (+ leeway + refresh period).
        clock.advance(seconds=900)
        assert old_kid in await kids(auth.client)
        assert await introspect(auth, old_token, key.client_id, key.secret) == {"active": False}
        fresh = await token_of(auth, key.client_id, key.secret)
        assert (await introspect(auth, fresh, key.client_id, key.secret))["active"] is True
        clock.advance(seconds=36)
        assert await kids(auth.client) == [new_kid]

        async def deleted() -> bool:
            async with auth.runtime.pool.acquire() as conn:
                n = await conn.fetchval("SELECT count(*) FROM signing_keys WHERE kid = $1", old_kid)
            return bool(n == 0)

        assert await wait_for(deleted, timeout=10), "the schedule deletes the retired key"


async def test_the_schedule_rotates_an_old_key_and_immediate_rotation_signs_at_once(
    database_url: str, kafka: str
) -> None:
    clock = Clock(T0)
    settings = settings_for(
        database_url,
        kafka,
        infra.unique("t") + ".",
        signing_key_rotation_s=3600,
        signing_key_refresh_s=0.1,
    )
    app = create_app(settings, clock=clock)
    async with running(settings, kafka, app=app) as auth:
        key = await auth.create_key()
        (first,) = await kids(auth.client)

        clock.advance(seconds=3600)

        async def two_keys() -> bool:
            return len(await kids(auth.client)) == 2

        assert await wait_for(two_keys, timeout=10), "the schedule created the next key"
        assert kid_of(await token_of(auth, key.client_id, key.secret)) == first

        urgent = await rotate_keys(settings, immediate=True, now=clock.now)

        async def signs_with_urgent() -> bool:
            return kid_of(await token_of(auth, key.client_id, key.secret)) == urgent.key.kid

        assert await wait_for(signs_with_urgent, timeout=10)
        published = await kids(auth.client)
        assert published == [urgent.key.kid], "the suspect key and the pending one are withdrawn"


async def test_immediate_rotation_withdraws_the_suspect_key_at_once(
    database_url: str, kafka: str
) -> None:
    clock = Clock(T0)
    settings = settings_for(database_url, kafka, infra.unique("t") + ".", signing_key_refresh_s=0.1)
    app = create_app(settings, clock=clock)
    async with running(settings, kafka, app=app) as auth:
        key = await auth.create_key()
        (suspect,) = await kids(auth.client)
        old_token = await token_of(auth, key.client_id, key.secret)
        assert kid_of(old_token) == suspect

        def verifier() -> TokenVerifier:
            """A verifier that has just fetched the JWKS, as every verifier eventually does."""
            jwks = JwksCache.from_url(auth.client, f"{ISSUER}/.well-known/jwks.json")
            return TokenVerifier(
                jwks, issuer=ISSUER, audience=AUDIENCE, clock=lambda: clock.now.timestamp()
            )

        assert (await verifier().verify(old_token)).key_id == key.client_id

        clock.advance(seconds=10)
        urgent = await rotate_keys(settings, immediate=True, now=clock.now)

        async def withdrawn() -> bool:
            return await kids(auth.client) == [urgent.key.kid]

        # Well within the old token's lifetime (and the retention a normal rotation keeps).
        assert await wait_for(withdrawn, timeout=10), "the suspect key left the JWKS at once"
        with pytest.raises(InvalidToken, match="unknown signing key"):
            await verifier().verify(old_token)
        # A legitimate client simply exchanges its key again.
        fresh = await token_of(auth, key.client_id, key.secret)
        assert kid_of(fresh) == urgent.key.kid
        assert (await verifier().verify(fresh)).key_id == key.client_id
        assert await introspect(auth, old_token, key.client_id, key.secret) == {"active": False}


async def test_two_replicas_starting_together_create_one_key(database_url: str, kafka: str) -> None:
    settings = settings_for(database_url, kafka, infra.unique("t") + ".")
    apps = [create_app(settings), create_app(settings)]
    runtimes: list[ServiceRuntime] = [app.state.runtime for app in apps]
    await asyncio.gather(*(r.start() for r in runtimes))
    try:
        conn = await asyncpg.connect(database_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM signing_keys") == 1
        finally:
            await conn.close()
        documents = []
        for app in apps:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
                documents.append(await kids(client))
        assert documents[0] == documents[1]
        assert len(documents[0]) == 1
    finally:
        await asyncio.gather(*(r.stop() for r in runtimes))


async def test_a_different_encryption_key_refuses_to_start_until_rotated(
    database_url: str, kafka: str
) -> None:
    settings = settings_for(database_url, kafka, infra.unique("t") + ".")
    async with running(settings, kafka):
        pass
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT kid, private_key_encrypted FROM signing_keys")
    finally:
        await conn.close()
    assert row is not None
    opened = SecretBox(settings.encryption_key).open(
        row["private_key_encrypted"], row["kid"].encode()
    )
    assert isinstance(load_der_private_key(opened, None), rsa.RSAPrivateKey), "sealed PKCS#8"
    assert opened not in row["private_key_encrypted"]

    changed = Settings(**{**settings.model_dump(), "signing_key_encryption_key": encryption_key()})
    app = create_app(changed)
    with pytest.raises(ConfigurationError, match="does not decrypt"):
        async with app.router.lifespan_context(app):
            pass
    await app.state.runtime.stop()

    await rotate_keys(changed, immediate=True)
    async with running(changed, kafka) as auth:
        key = await auth.create_key()
        await token_of(auth, key.client_id, key.secret)


async def test_rotating_an_empty_database_creates_a_key_that_signs_at_once(
    database_url: str, kafka: str
) -> None:
    settings = settings_for(database_url, kafka, infra.unique("t") + ".")
    now = datetime.now(UTC)
    first = await rotate_keys(settings, now=now)
    assert first.created
    assert first.key.activates_at == now
    async with running(settings, kafka) as auth:
        assert await kids(auth.client) == [first.key.kid]
        key = await auth.create_key()
        assert kid_of(await token_of(auth, key.client_id, key.secret)) == first.key.kid
