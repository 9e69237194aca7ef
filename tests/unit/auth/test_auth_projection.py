"""Folding a KeyRenamed: the key's state goes to the projection only when the rename carries it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fireline_auth.adapters import key_projection
from fireline_auth.service_layer.projection import apply_key_event
from fireline_contracts import KeyRenamed, KeyRenamedPayload, api_keys

WHEN = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
DIGEST = api_keys.digest(api_keys.generate())


@pytest.fixture
def renames(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    async def record(conn: object, **kwargs: Any) -> None:
        calls.append(kwargs)

    monkeypatch.setattr(key_projection, "apply_renamed", record)
    return calls


async def test_a_rename_with_the_keys_state_passes_it_on(renames: list[dict[str, Any]]) -> None:
    payload = KeyRenamedPayload(
        key_id=uuid.uuid4(),
        name="ci",
        digest=DIGEST,
        scopes=("incidents:read",),
        expires_at=WHEN + timedelta(days=30),
        created_by=None,
        created_at=WHEN,
    )
    await apply_key_event(object(), KeyRenamed(org_id=uuid.uuid4(), payload=payload))  # type: ignore[arg-type]

    [call] = renames
    assert call["state"] == key_projection.KeyState(
        digest=DIGEST,
        scopes=("incidents:read",),
        expires_at=WHEN + timedelta(days=30),
        created_at=WHEN,
    )
    assert DIGEST not in repr(call["state"])


async def test_an_old_style_rename_carries_no_state(renames: list[dict[str, Any]]) -> None:
    payload = KeyRenamedPayload(key_id=uuid.uuid4(), name="ci")
    await apply_key_event(object(), KeyRenamed(org_id=uuid.uuid4(), payload=payload))  # type: ignore[arg-type]

    [call] = renames
    assert call["state"] is None
    assert call["name"] == "ci"
