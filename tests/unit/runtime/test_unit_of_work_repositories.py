"""A service's ``PgUnitOfWork`` declares its repositories with ``repository(...)``: they exist on
the unit of work's connection while it is entered, and nowhere else."""

from __future__ import annotations

from typing import Any, cast

import pytest

from fireline_runtime.unit_of_work import PgRepository, PgUnitOfWork, repository


class Keys(PgRepository):
    @property
    def conn(self) -> object:
        return self._conn


class Sealed:
    def __init__(self, conn: object, box: str) -> None:
        self.conn = conn
        self.box = box


class Work(PgUnitOfWork):
    keys = repository(Keys)
    sealed = repository(lambda uow: Sealed(uow.connection, uow.box))

    def __init__(self, conn: object) -> None:
        # Reads only: neither the outbox nor a transaction is touched.
        super().__init__(cast(Any, None), conn=cast(Any, conn))
        self.box = "the service's box"


async def test_a_repository_works_on_the_connection_only_inside_the_unit_of_work() -> None:
    conn = object()
    uow = Work(conn)
    with pytest.raises(RuntimeError, match="enter the unit of work first"):
        _ = uow.keys

    async with uow.reading() as reader:
        assert reader.keys.conn is conn
        assert reader.keys is reader.keys  # one per entry, however often it is asked for
        first = reader.keys

    with pytest.raises(RuntimeError, match="enter the unit of work first"):
        _ = uow.keys
    async with uow.reading() as reader:
        assert reader.keys is not first  # a new entry, a new repository


async def test_a_repository_that_needs_more_than_the_connection_is_built_from_the_uow() -> None:
    conn = object()
    async with Work(conn).reading() as reader:
        assert (reader.sealed.conn, reader.sealed.box) == (conn, "the service's box")
