"""The PostgreSQL side of every service's unit of work, and the factory ``bootstrap.py`` builds.

Each service declares what its use cases need in ``service_layer/unit_of_work.py`` (repository
Protocols and a ``UnitOfWork`` Protocol) and implements it in ``adapters/postgres.py`` as a
subclass of :class:`PgUnitOfWork` that only says which repositories a connection gets, one
:class:`repository` attribute each. The transaction, the connection's lifetime and the outbox
live here, once.

A unit of work runs either on its own connection from the pool (HTTP requests) or inside a
connection the caller already holds in a transaction (Kafka consumers run inside the inbox
transaction, so the use case's writes commit together with the inbox claim).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar, overload

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from fireline_contracts import EventEnvelope, TopicSpec
from fireline_runtime.db import Connection
from fireline_runtime.outbox import OutboxWriter, Row

U = TypeVar("U")
R = TypeVar("R")


class Transactional(Protocol):
    """What every service's ``UnitOfWork`` Protocol extends: the transaction, nothing else.

    Entering begins a transaction and leaving commits it (or rolls it back on an error);
    :meth:`reading` is for reads outside a transaction, where nothing may be written.
    """

    def reading(self) -> AbstractAsyncContextManager[Self]: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class PgRepository:
    """Base of every PostgreSQL repository: it works on the unit of work's connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn


class repository(Generic[R]):
    """A repository of a :class:`PgUnitOfWork` subclass, on the open transaction's connection.

    ``keys = repository(PgKeyRepository)`` in the class body: the repository is built on the
    connection at first use inside the unit of work and dropped when it ends, so it cannot be
    used outside it (``RuntimeError``, like any other use of a closed unit of work). A repository
    that needs more than the connection is built by a function of the unit of work instead:
    ``repository(lambda uow: PgEndpointRepository(uow.connection, uow.box))``.
    """

    def __init__(self, build: Callable[[Any], R]) -> None:
        self._build = build
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, uow: None, owner: type) -> Self: ...

    @overload
    def __get__(self, uow: PgUnitOfWork, owner: type) -> R: ...

    def __get__(self, uow: PgUnitOfWork | None, owner: type) -> Self | R:
        if uow is None:
            return self
        bound = uow._repositories
        if bound is None:
            raise RuntimeError("enter the unit of work first")
        if self._name not in bound:
            build = self._build
            on = (
                uow.connection
                if isinstance(build, type) and issubclass(build, PgRepository)
                else uow
            )
            bound[self._name] = build(on)
        built: R = bound[self._name]
        return built


class PgUnitOfWork:
    """One transaction (a savepoint when inside ``conn``'s), and the outbox rows it commits with.

    Subclasses declare their repositories as :class:`repository` attributes; they exist only
    while the unit of work is entered.
    """

    def __init__(
        self,
        outbox: OutboxWriter,
        *,
        pool: asyncpg.Pool | None = None,
        conn: Connection | None = None,
    ) -> None:
        if (pool is None) == (conn is None):
            raise ValueError("pass exactly one of pool and conn")
        self._outbox = outbox
        self._pool = pool
        self._given_conn = conn
        self._conn: Connection | None = None
        self._borrowed: PoolConnectionProxy[asyncpg.Record] | None = None
        self._transaction: Transaction | None = None
        self._outbox_rows: list[Row] = []
        # The repositories built in this entry, by attribute name; None outside the unit of work.
        self._repositories: dict[str, Any] | None = None

    @property
    def connection(self) -> Connection:
        """The connection of the open transaction; only adapters use it."""
        if self._conn is None:
            raise RuntimeError("enter the unit of work first")
        return self._conn

    async def emit(self, spec: TopicSpec, event: EventEnvelope) -> None:
        """Queue ``event`` in the outbox; it is sent only if the transaction commits.

        The rows are inserted together just before the commit: one statement for a use case
        that announces several events, not one each.
        """
        if self._transaction is None:
            raise RuntimeError("events are emitted inside the unit of work's transaction")
        self._outbox_rows.append(self._outbox.row(spec, event))

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Self]:
        """Enter for reads outside a transaction; nothing may be written.

        A single SELECT is atomic on its own; BEGIN and COMMIT would add two round trips to it,
        a third of an authenticated read's cost (BENCHMARKS.md).
        """
        conn = await self._connect()
        self._conn = conn
        self._repositories = {}
        try:
            yield self
        finally:
            self._conn = None
            self._repositories = None
            await self._release()

    async def __aenter__(self) -> Self:
        conn = await self._connect()
        try:
            self._transaction = conn.transaction()
            await self._transaction.start()
        except BaseException:
            await self._release()
            raise
        self._conn = conn
        self._repositories = {}
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        transaction, conn = self._transaction, self._conn
        if transaction is None or conn is None:
            raise RuntimeError("the unit of work was not entered")
        rows, self._outbox_rows = self._outbox_rows, []
        self._conn = None
        self._transaction = None
        self._repositories = None
        try:
            if exc_type is None:
                try:
                    await self._outbox.insert(conn, rows)
                except BaseException:
                    await transaction.rollback()
                    raise
                await transaction.commit()
            else:
                await transaction.rollback()
        finally:
            await self._release()

    async def _connect(self) -> Connection:
        if self._pool is not None:
            self._borrowed = await self._pool.acquire()
            return self._borrowed
        if self._given_conn is not None:
            return self._given_conn
        raise RuntimeError("no connection to work on")

    async def _release(self) -> None:
        borrowed, self._borrowed = self._borrowed, None
        if self._pool is not None and borrowed is not None:
            await self._pool.release(borrowed)


class UnitOfWorkFactory(Generic[U]):
    """Hands out units of work; ``bootstrap.py`` builds one and gives it to the entrypoints.

    ``build`` gets a connection when the caller already holds one in a transaction (a consumer
    inside its inbox transaction) and ``None`` when the unit of work should take its own.
    """

    def __init__(self, build: Callable[[Connection | None], U]) -> None:
        self._build = build

    def __call__(self) -> U:
        """A unit of work on its own pooled connection (HTTP requests, periodic tasks)."""
        return self._build(None)

    def on(self, conn: Connection) -> U:
        """A unit of work inside ``conn``'s open transaction (Kafka consumers)."""
        return self._build(conn)
