"""The use-case tests' in-memory unit of work (support.fake_uow) keeps the runtime's promises.

The scenarios shared with the integration tier (support.uow_scenarios) run here on the fake; the
rest are what only a fake needs saying: it is stricter than PostgreSQL where PostgreSQL would let
a mistake pass silently, and it can be told to fail a commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from fireline_contracts import KEYS, KeyRenamed, KeyUsed, KeyUsedPayload
from support.uow_scenarios import (
    ORG,
    SCENARIOS,
    Backend,
    FakeBackend,
    Refused,
    announcement,
    write_and_announce,
)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_the_fake_keeps_the_promise(scenario: Callable[[Backend], Awaitable[None]]) -> None:
    await scenario(FakeBackend())


async def test_writes_are_refused_while_only_reading() -> None:
    # PostgreSQL would run the INSERT in its own transaction, committed at once: the Protocol
    # forbids it, and only the fake can tell.
    backend = FakeBackend()
    async with backend.uow().reading() as reader:
        with pytest.raises(RuntimeError, match="outside the unit of work's transaction"):
            await reader.notes.add("while reading")

    assert await backend.committed_notes() == []


async def test_a_commit_that_fails_rolls_back_and_raises_its_error() -> None:
    backend = FakeBackend()
    backend.db.fail_next_commit(Refused("the outbox rows were refused"))
    with pytest.raises(Refused, match="outbox rows"):
        await write_and_announce(backend, "lost")
    event = await write_and_announce(backend, "next")

    assert await backend.committed_notes() == ["next"], "only the failing commit fails"
    assert await backend.published() == [event.event_id]
    assert (backend.db.commits, backend.db.rollbacks) == (1, 1)


async def test_a_rollback_restores_the_store_that_others_hold() -> None:
    backend = FakeBackend()
    held = backend.db.store  # as a writer beside the unit of work holds it
    with pytest.raises(Refused):
        await write_and_announce(backend, "lost", fail=True)

    held.texts.append("written beside it")
    assert await backend.committed_notes() == ["written beside it"]


async def test_one_unit_of_work_is_entered_once_at_a_time() -> None:
    backend = FakeBackend()
    uow = backend.uow()
    async with uow:
        with pytest.raises(RuntimeError, match="already entered"):
            await uow.__aenter__()
        with pytest.raises(RuntimeError, match="already entered"):
            async with uow.reading():
                pass
        await uow.notes.add("once")

    assert await backend.committed_notes() == ["once"]


async def test_overlapping_transactions_fail_rather_than_see_each_others_writes() -> None:
    backend = FakeBackend()
    async with backend.uow() as first:
        await first.notes.add("first")
        with pytest.raises(RuntimeError, match="two transactions at once"):
            await backend.uow().__aenter__()

    assert await backend.committed_notes() == ["first"]


async def test_leaving_a_unit_of_work_never_entered_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not entered"):
        await FakeBackend().uow().__aexit__(None, None, None)


async def test_an_event_no_topic_of_the_service_carries_is_refused() -> None:
    backend = FakeBackend()  # publishes on the keys topic only
    stray = KeyUsed(
        org_id=ORG, payload=KeyUsedPayload(key_id=uuid.uuid4(), used_at=datetime.now(UTC))
    )
    with pytest.raises(ValueError, match="KeyUsed"):
        async with backend.uow() as uow:
            await uow.publish(stray)  # type: ignore[arg-type]

    assert await backend.published() == []


async def test_committed_events_are_read_by_topic_in_commit_order() -> None:
    backend = FakeBackend()
    first, second = announcement("1"), announcement("2")
    for event in (first, second):
        async with backend.uow() as uow:
            await uow.publish(event)

    on_keys = backend.db.published_on(KEYS)
    assert [e.event_id for e in on_keys] == [first.event_id, second.event_id]
    assert all(isinstance(e, KeyRenamed) for e in on_keys)
    assert (backend.db.transactions, backend.db.commits) == (2, 2)
