"""What every unit of work promises, as scenarios any implementation can be put through.

The unit tier runs them on :mod:`support.fake_uow`; the integration tier runs the same ones on
the runtime's PostgreSQL unit of work too, so the fake the use-case tests rely on is held to what
the real one does, not to what someone remembers it doing.

A scenario gets a :class:`Backend`: a way to open units of work whose ``notes`` repository keeps
text, and the test's own look at what was committed (the notes, and the outbox's events).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

import pytest

from fireline_contracts import KEYS, KeyRenamed, KeyRenamedPayload
from fireline_runtime.unit_of_work import Transactional
from support import fake_uow

ORG = uuid.UUID("00000000-0000-0000-0000-0000000000bb")


class Notes(Protocol):
    async def add(self, text: str) -> None: ...

    async def all(self) -> list[str]: ...


class NotesUnitOfWork(Transactional, Protocol):
    @property
    def notes(self) -> Notes: ...

    async def publish(self, event: KeyRenamed) -> None: ...


class Backend(Protocol):
    def uow(self) -> NotesUnitOfWork:
        """A new unit of work on the shared database."""

    async def committed_notes(self) -> list[str]:
        """The notes as the database holds them, sorted."""

    async def published(self) -> list[uuid.UUID]:
        """The ids of the events in the outbox, in the order they were written."""


def announcement(text: str) -> KeyRenamed:
    return KeyRenamed(org_id=ORG, payload=KeyRenamedPayload(key_id=uuid.uuid4(), name=text))


class Refused(Exception):
    """What a use case raises half-way through its transaction."""


async def write_and_announce(backend: Backend, text: str, *, fail: bool = False) -> KeyRenamed:
    """A use case: note ``text`` and announce it in one transaction; with ``fail`` it raises
    :class:`Refused` after both, before the commit."""
    event = announcement(text)
    async with backend.uow() as uow:
        await uow.notes.add(text)
        await uow.publish(event)
        if fail:
            raise Refused(text)
    return event


async def committing_keeps_the_writes_and_sends_the_events(backend: Backend) -> None:
    event = await write_and_announce(backend, "first")

    assert await backend.committed_notes() == ["first"]
    assert await backend.published() == [event.event_id]


async def an_error_discards_the_writes_and_the_events_and_is_raised(backend: Backend) -> None:
    kept = await write_and_announce(backend, "kept")
    with pytest.raises(Refused):
        await write_and_announce(backend, "lost", fail=True)

    assert await backend.committed_notes() == ["kept"]
    assert await backend.published() == [kept.event_id]


async def repositories_answer_only_inside_the_unit_of_work(backend: Backend) -> None:
    uow = backend.uow()
    with pytest.raises(RuntimeError):
        await uow.notes.all()
    async with uow:
        await uow.notes.add("inside")
    with pytest.raises(RuntimeError):
        await uow.notes.add("after")

    assert await backend.committed_notes() == ["inside"]


async def events_are_refused_outside_the_transaction(backend: Backend) -> None:
    uow = backend.uow()
    with pytest.raises(RuntimeError):
        await uow.publish(announcement("before"))
    async with uow.reading() as reader:
        with pytest.raises(RuntimeError):
            await reader.publish(announcement("reading"))

    assert await backend.published() == []


async def one_unit_of_work_runs_transaction_after_transaction(backend: Backend) -> None:
    uow = backend.uow()
    async with uow:
        await uow.notes.add("one")
    async with uow:
        await uow.notes.add("two")
    async with uow.reading() as reader:
        seen = await reader.notes.all()

    assert sorted(seen) == ["one", "two"]
    assert await backend.committed_notes() == ["one", "two"]


SCENARIOS: tuple[Callable[[Backend], Awaitable[None]], ...] = (
    committing_keeps_the_writes_and_sends_the_events,
    an_error_discards_the_writes_and_the_events_and_is_raised,
    repositories_answer_only_inside_the_unit_of_work,
    events_are_refused_outside_the_transaction,
    one_unit_of_work_runs_transaction_after_transaction,
)


# --- the fake's side ----------------------------------------------------------------------------


class NoteRows:
    def __init__(self) -> None:
        self.texts: list[str] = []


class FakeNotes(fake_uow.GuardedRepository[NoteRows]):
    async def add(self, text: str) -> None:
        self.writing().texts.append(text)

    async def all(self) -> list[str]:
        return list(self.store.texts)


class FakeNotesUnitOfWork(fake_uow.FakeUnitOfWork[NoteRows, KeyRenamed]):
    def __init__(self, db: fake_uow.FakeDatabase[NoteRows, KeyRenamed]) -> None:
        super().__init__(db)
        self._notes = FakeNotes(self)

    @property
    def notes(self) -> FakeNotes:
        return self._notes


class FakeBackend:
    def __init__(self) -> None:
        self.db = fake_uow.FakeDatabase[NoteRows, KeyRenamed](NoteRows(), topics=(KEYS,))

    def uow(self) -> FakeNotesUnitOfWork:
        return FakeNotesUnitOfWork(self.db)

    async def committed_notes(self) -> list[str]:
        return sorted(self.db.store.texts)

    async def published(self) -> list[uuid.UUID]:
        return [e.event_id for e in self.db.published]
