"""Rebuilding auth's key projection from a compacted keys topic, where a rename may be all that is
left of a key: a KeyRenamed carrying the key's state makes it usable, revocation stays final, and an
old-style KeyRenamed (name only) never makes a key usable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from fireline_contracts import KeyRenamed, KeyRenamedPayload
from integration.auth.auth_harness import AuthHarness, Key, basic

pytestmark = pytest.mark.integration

INVALID_CLIENT = {"error": "invalid_client", "error_description": "Client authentication failed."}


def full_rename(key: Key, name: str, *, at: datetime | None = None) -> KeyRenamed:
    """The KeyRenamed identity publishes now: the new name plus the key's whole state."""
    created = key.created.payload
    return KeyRenamed(
        org_id=key.org_id,
        occurred_at=at or datetime.now(UTC),
        payload=KeyRenamedPayload(
            key_id=key.key_id,
            name=name,
            digest=created.digest,
            scopes=created.scopes,
            expires_at=created.expires_at,
            created_by=created.created_by,
            created_at=created.created_at,
        ),
    )


def old_rename(key: Key, name: str) -> KeyRenamed:
    """A KeyRenamed published before renames carried the key's state."""
    return KeyRenamed(org_id=key.org_id, payload=KeyRenamedPayload(key_id=key.key_id, name=name))


async def exchange(auth: AuthHarness, key: Key, host: str) -> httpx.Response:
    # One address per attempt keeps refusals off the shared client's rate limit.
    async with auth.client_from(host) as client:
        return await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic(key.client_id, key.secret),
        )


async def test_a_rename_alone_rebuilds_a_usable_key_until_it_is_revoked(auth: AuthHarness) -> None:
    key = auth.key_created(scopes=("incidents:read",), name="before")  # compacted away: never sent
    await auth.publish(full_rename(key, "after"))
    row = await auth.wait_row(key.key_id, digest=key.digest)
    assert row["name"] == "after"
    assert row["created_at"] == key.created.payload.created_at

    issued = await exchange(auth, key, "192.0.2.201")
    assert issued.status_code == 200, issued.text
    assert issued.json()["scope"] == "incidents:read"
    principal = await auth.verifier().verify(issued.json()["access_token"])
    assert (principal.key_id, principal.org_id) == (str(key.key_id), key.org_id)

    await auth.revoke(key)
    refused = await exchange(auth, key, "192.0.2.202")
    assert refused.status_code == 401
    assert refused.json() == INVALID_CLIENT


async def test_a_rename_carries_the_expiry_too(auth: AuthHarness) -> None:
    key = auth.key_created(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    await auth.publish(full_rename(key, "expired"))
    row = await auth.wait_row(key.key_id, digest=key.digest)
    assert row["expires_at"] == key.created.payload.expires_at

    refused = await exchange(auth, key, "192.0.2.203")
    assert refused.status_code == 401


async def test_an_old_style_rename_alone_does_not_make_a_usable_key(auth: AuthHarness) -> None:
    key = auth.key_created()  # never sent
    await auth.publish(old_rename(key, "name only"))
    row = await auth.wait_row(key.key_id, name="name only")
    assert row["digest"] is None

    refused = await exchange(auth, key, "192.0.2.204")
    assert refused.status_code == 401
    assert refused.json() == INVALID_CLIENT


async def test_a_full_rename_fills_a_row_an_old_style_rename_started(auth: AuthHarness) -> None:
    key = auth.key_created()
    await auth.publish(old_rename(key, "first"))
    await auth.wait_row(key.key_id, name="first")
    await auth.publish(full_rename(key, "second"))
    await auth.wait_row(key.key_id, digest=key.digest, name="second")

    issued = await exchange(auth, key, "192.0.2.205")
    assert issued.status_code == 200, issued.text


async def test_a_rename_replayed_after_the_revocation_does_not_revive_the_key(
    auth: AuthHarness,
) -> None:
    key = auth.key_created()
    revoked = auth.key_revoked(key)
    await auth.publish(revoked)
    await auth.wait_row(key.key_id, revoked_at=...)
    # Identity refuses to rename a revoked key, but a replay can still deliver an earlier rename
    # after the revocation.
    await auth.publish(full_rename(key, "late", at=revoked.occurred_at - timedelta(minutes=1)))
    row = await auth.wait_row(key.key_id, digest=key.digest)
    assert row["revoked_at"] == revoked.payload.revoked_at

    refused = await exchange(auth, key, "192.0.2.206")
    assert refused.status_code == 401


async def test_a_stale_full_rename_keeps_the_newer_name(auth: AuthHarness) -> None:
    key = await auth.create_key(scopes=("incidents:write",), name="original")
    now = datetime.now(UTC)
    await auth.publish(full_rename(key, "newer", at=now))
    await auth.wait_row(key.key_id, name="newer")
    await auth.publish(full_rename(key, "older", at=now - timedelta(minutes=5)))
    # Same key, same partition: once the revocation shows, the stale rename was applied before it.
    await auth.revoke(key)
    row = await auth.row(key.key_id)
    assert row is not None
    assert (row["name"], row["scopes"], row["digest"]) == ("newer", ["incidents:write"], key.digest)
