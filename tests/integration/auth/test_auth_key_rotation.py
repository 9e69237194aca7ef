"""Rotation in auth's projection on the real database and broker: both secrets work during the
grace period, the old one stops by the clock alone, and a KeyRotated (or a rename during the
grace) alone rebuilds the key from a compacted topic."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from fireline_contracts import (
    KeyCreated,
    KeyRenamed,
    KeyRenamedPayload,
    KeyRotated,
    KeyRotatedPayload,
    api_keys,
)
from integration.auth.auth_harness import AuthHarness, Key, basic

pytestmark = pytest.mark.integration


def rotated(key: Key, new_secret: str, grace: timedelta | None, *, at: datetime) -> KeyRotated:
    created = key.created.payload
    return KeyRotated(
        org_id=key.org_id,
        occurred_at=at,
        payload=KeyRotatedPayload(
            key_id=key.key_id,
            name=created.name,
            digest=api_keys.digest(new_secret),
            scopes=created.scopes,
            expires_at=created.expires_at,
            created_at=created.created_at,
            previous_digest=key.digest if grace else None,
            previous_valid_until=at + grace if grace else None,
            rotated_at=at,
        ),
    )


async def exchange(auth: AuthHarness, key: Key, secret: str, host: str) -> httpx.Response:
    # One address per caller keeps refusals off the other callers' rate limits.
    async with auth.client_from(host) as client:
        return await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic(key.client_id, secret),
        )


async def bare(auth: AuthHarness, secret: str, host: str) -> httpx.Response:
    async with auth.client_from(host) as client:
        return await client.post("/api/v2/identity/token", headers={"Authorization": secret})


async def test_both_secrets_work_until_the_grace_ends_then_only_the_new_one(
    auth: AuthHarness,
) -> None:
    key = await auth.create_key()
    new = api_keys.generate()
    now = datetime.now(UTC)
    await auth.publish(rotated(key, new, timedelta(seconds=3), at=now))
    await auth.wait_row(key.key_id, digest=api_keys.digest(new))

    for secret, host in ((key.secret, "192.0.2.31"), (new, "192.0.2.32")):
        assert (await exchange(auth, key, secret, host)).status_code == 200
    assert (await bare(auth, key.secret, "192.0.2.33")).status_code == 200
    old_token = (await exchange(auth, key, key.secret, "192.0.2.31")).json()
    assert old_token["expires_in"] <= 3, "a token bought with the old secret ends with it"

    # No event marks the end: the clock does. Wait for the refusal, the positive signal.
    deadline = time.monotonic() + 15
    while (await exchange(auth, key, key.secret, "192.0.2.34")).status_code != 401:
        assert time.monotonic() < deadline, "the old secret outlived its grace period"
        await asyncio.sleep(0.1)  # polling interval, not a wait for the outcome
    assert datetime.now(UTC) >= now + timedelta(seconds=3)
    assert (await bare(auth, key.secret, "192.0.2.35")).status_code == 401
    assert (await exchange(auth, key, new, "192.0.2.32")).status_code == 200


async def test_a_rotation_alone_rebuilds_the_key_and_a_stale_creation_changes_nothing(
    auth: AuthHarness,
) -> None:
    key = auth.key_created()  # its KeyCreated was compacted away: never sent first
    new = api_keys.generate()
    at = datetime.now(UTC)
    await auth.publish(rotated(key, new, None, at=at))
    await auth.wait_row(key.key_id, digest=api_keys.digest(new))

    stale = KeyCreated(
        org_id=key.org_id, occurred_at=at - timedelta(minutes=1), payload=key.created.payload
    )
    # A rename published during a later grace period carries the replaced secret too.
    renamed = KeyRenamed(
        org_id=key.org_id,
        occurred_at=at + timedelta(seconds=1),
        payload=KeyRenamedPayload(
            key_id=key.key_id,
            name="renamed",
            digest=api_keys.digest(new),
            scopes=key.scopes,
            created_at=key.created.payload.created_at,
        ),
    )
    await auth.publish(stale, renamed)
    row = await auth.wait_row(key.key_id, name="renamed")

    assert row["digest"] == api_keys.digest(new)
    assert row["previous_digest"] is None
    assert (await exchange(auth, key, key.secret, "192.0.2.41")).status_code == 401
    assert (await exchange(auth, key, new, "192.0.2.42")).status_code == 200


async def test_a_rename_during_the_grace_keeps_both_secrets(auth: AuthHarness) -> None:
    key = auth.key_created()
    new = api_keys.generate()
    at = datetime.now(UTC)
    until = at + timedelta(minutes=30)
    # Only the rename is left on the compacted topic.
    await auth.publish(
        KeyRenamed(
            org_id=key.org_id,
            occurred_at=at,
            payload=KeyRenamedPayload(
                key_id=key.key_id,
                name="renamed",
                digest=api_keys.digest(new),
                scopes=key.scopes,
                created_at=key.created.payload.created_at,
                previous_digest=key.digest,
                previous_valid_until=until,
            ),
        )
    )
    await auth.wait_row(key.key_id, previous_valid_until=until)

    assert (await exchange(auth, key, key.secret, "192.0.2.51")).status_code == 200
    assert (await exchange(auth, key, new, "192.0.2.52")).status_code == 200
