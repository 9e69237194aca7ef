"""Folding a KeyRenamed: the key's state goes to the projection only when the rename carries it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from fireline_auth.domain.keys import KeyChange, KeyState
from fireline_auth.service_layer.projection import apply_key_event
from fireline_contracts import KeyRenamed, KeyRenamedPayload, KeyUsed, api_keys
from support import fake_uow

WHEN = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
DIGEST = api_keys.digest(api_keys.generate())


class RecordingProjection:
    def __init__(self) -> None:
        self.renames: list[KeyChange] = []

    async def apply_renamed(self, change: KeyChange) -> None:
        self.renames.append(change)


class RecordingUnitOfWork(fake_uow.FakeUnitOfWork[RecordingProjection, KeyUsed]):
    """Only what applying a rename uses: the projection, inside the unit of work."""

    def __init__(self) -> None:
        super().__init__(fake_uow.FakeDatabase(RecordingProjection(), topics=()))

    @property
    def api_keys(self) -> RecordingProjection:
        return self.bound


@pytest.fixture
def uow() -> RecordingUnitOfWork:
    return RecordingUnitOfWork()


async def test_a_rename_with_the_keys_state_passes_it_on(uow: RecordingUnitOfWork) -> None:
    payload = KeyRenamedPayload(
        key_id=uuid.uuid4(),
        name="ci",
        digest=DIGEST,
        scopes=("incidents:read",),
        expires_at=WHEN + timedelta(days=30),
        created_by=None,
        created_at=WHEN,
    )
    await apply_key_event(cast(Any, uow), KeyRenamed(org_id=uuid.uuid4(), payload=payload))

    [call] = uow.store.renames
    assert call.state == KeyState(
        digest=DIGEST,
        scopes=("incidents:read",),
        expires_at=WHEN + timedelta(days=30),
        created_at=WHEN,
    )
    assert DIGEST not in repr(call.state)


async def test_an_old_style_rename_carries_no_state(uow: RecordingUnitOfWork) -> None:
    payload = KeyRenamedPayload(key_id=uuid.uuid4(), name="ci")
    await apply_key_event(cast(Any, uow), KeyRenamed(org_id=uuid.uuid4(), payload=payload))

    [call] = uow.store.renames
    assert call.state is None
    assert call.name == "ci"
