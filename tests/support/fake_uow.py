"""One in-memory unit of work for every service's use-case tests, promising what the runtime's
PostgreSQL one (``fireline_runtime.unit_of_work``) promises:

- repositories answer only inside ``async with uow`` or ``uow.reading()``, and writes and
  events only inside ``async with uow`` (a transaction); outside, RuntimeError, as the
  services' PostgreSQL units of work raise once their repositories are unbound;
- leaving without an error commits: the writes stay and the events queued with
  :meth:`FakeUnitOfWork.publish` reach the outbox (:attr:`FakeDatabase.published`), each on the
  one topic of the service's that declares it;
- an error, or a commit that fails (:meth:`FakeDatabase.fail_next_commit`, as when the outbox
  rows are refused), rolls back: the store is as it was when the transaction began and its events
  are gone;
- one unit of work is entered once at a time, and may be entered again after it was left.

It lives with the tests rather than in ``fireline_runtime``: no service may ship it, and the
tests' ``support`` package is where the fixtures that more than one tier shares already live.

A service's tests keep only their in-memory repositories. They put them (or the rows they read)
in a store object, and subclass :class:`FakeUnitOfWork` with one property per repository of the
service's ``UnitOfWork`` Protocol, as ``adapters/postgres.py`` does for PostgreSQL. A store whose
repositories hold their own rows reaches them through :attr:`FakeUnitOfWork.bound`; repositories
that are views over plain rows extend :class:`GuardedRepository`, which also refuses writes
outside a transaction.

The test itself looks into the database through :attr:`FakeUnitOfWork.store` (as an operator
with psql would), never through the unit of work's repositories.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar

from fireline_contracts import EventEnvelope, TopicSpec

S = TypeVar("S")
E = TypeVar("E", bound=EventEnvelope)

Mode = Literal["closed", "reading", "transaction"]


class FakeDatabase(Generic[S, E]):
    """What every unit of work of one test shares: the store, the outbox and what happened.

    Transactions take turns: two at once would need PostgreSQL's isolation (each seeing only
    what the other committed), which copying the store does not give, so overlapping ones fail
    the test instead of passing it by accident.

    ``store`` is any object with attributes (a class or a dataclass, without ``__slots__``): a
    rollback puts back the attributes it had when the transaction began.
    """

    def __init__(self, store: S, *, topics: Sequence[TopicSpec]) -> None:
        self.store = store
        self.topics = tuple(topics)
        self.published: list[E] = []
        """Committed events in commit order: what the outbox relay would send."""
        self.transactions = 0
        self.reads = 0
        self.commits = 0
        self.rollbacks = 0
        self.in_transaction = False
        self._commit_error: BaseException | None = None

    def published_on(self, spec: TopicSpec) -> list[E]:
        """The committed events that went to ``spec``'s topic."""
        return [e for e in self.published if self.topic_of(e) is spec]

    def topic_of(self, event: E) -> TopicSpec:
        """The service's topic declaring ``event``, as the outbox row names it."""
        for spec in self.topics:
            if isinstance(event, spec.events):
                return spec
        raise ValueError(f"no topic of this service carries {type(event).__name__}")

    def fail_next_commit(self, error: BaseException) -> None:
        """Make the next commit raise ``error`` after rolling back, as the real one does when
        PostgreSQL refuses the outbox rows it inserts at commit."""
        self._commit_error = error

    def begin(self) -> S:
        if self.in_transaction:
            raise RuntimeError("two transactions at once: this fake does not isolate them")
        self.in_transaction = True
        self.transactions += 1
        return copy.deepcopy(self.store)

    def commit(self, events: list[E], before: S) -> None:
        self.in_transaction = False
        error, self._commit_error = self._commit_error, None
        if error is not None:
            self.rollback(before)
            raise error
        self.published.extend(events)
        self.commits += 1

    def rollback(self, before: S) -> None:
        self.in_transaction = False
        # In place, so whatever holds the store (a writer outside the unit of work) sees it.
        vars(self.store).clear()
        vars(self.store).update(vars(before))
        self.rollbacks += 1


class FakeUnitOfWork(Generic[S, E]):
    """One transaction at a time over a :class:`FakeDatabase`; see the module's docstring."""

    def __init__(self, db: FakeDatabase[S, E]) -> None:
        self.db = db
        self.mode: Mode = "closed"
        self._pending: list[E] = []
        self._before: S | None = None

    @property
    def store(self) -> S:
        """The database as the test sees it, whatever the unit of work is doing."""
        return self.db.store

    @property
    def published(self) -> list[E]:
        """The committed events (:attr:`FakeDatabase.published`)."""
        return self.db.published

    @property
    def bound(self) -> S:
        """The store for the repositories: only while the unit of work is entered."""
        if self.mode == "closed":
            raise RuntimeError("enter the unit of work first")
        return self.db.store

    @property
    def writable(self) -> S:
        """The store for writes: only inside the transaction."""
        if self.mode != "transaction":
            raise RuntimeError("a write outside the unit of work's transaction")
        return self.db.store

    async def publish(self, event: E) -> None:
        """Queue ``event``; it reaches the outbox only if the transaction commits."""
        if self.mode != "transaction":
            raise RuntimeError("events are emitted inside the unit of work's transaction")
        self.db.topic_of(event)
        self._pending.append(event)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Self]:
        """Enter for reads outside a transaction; writes and events are refused."""
        self._enter("reading")
        self.db.reads += 1
        try:
            yield self
        finally:
            self.mode = "closed"

    async def __aenter__(self) -> Self:
        self._enter("transaction")
        self._before = self.db.begin()
        self._pending = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        before, events = self._before, self._pending
        if self.mode != "transaction" or before is None:
            raise RuntimeError("the unit of work was not entered")
        self.mode, self._before, self._pending = "closed", None, []
        if exc_type is None:
            self.db.commit(events, before)
        else:
            self.db.rollback(before)

    def _enter(self, mode: Mode) -> None:
        if self.mode != "closed":
            raise RuntimeError("the unit of work is already entered")
        self.mode = mode


class GuardedRepository(Generic[S]):
    """Base of an in-memory repository that is a view over the store's rows: reads only inside
    its unit of work, writes only inside its transaction."""

    def __init__(self, uow: FakeUnitOfWork[S, Any]) -> None:
        self._uow = uow

    @property
    def store(self) -> S:
        return self._uow.bound

    def writing(self) -> S:
        return self._uow.writable
