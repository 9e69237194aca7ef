"""Group commit: writes that arrive together share one transaction.

Each write must be durable before its caller goes on, so each costs at least a statement and a
commit (a WAL flush). Under load many callers wait for the same thing at the same time; here the
first one writes at once, and whoever arrives while that write is in flight joins the next one.
An idle service therefore adds no delay, and a busy one pays one round trip and one commit per
group instead of per item (BENCHMARKS.md has the measurements).

The webhook receiver stores deliveries this way, and the ingest worker publishes alerts this way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from fireline_runtime.db import TRANSIENT_DB_ERRORS

T = TypeVar("T")
R = TypeVar("R")

_Waiting = list[tuple[T, "asyncio.Future[R]"]]


class GroupCommit(Generic[T, R]):
    """Runs ``write`` on the items waiting together; each caller gets its own item's result.

    ``write`` takes up to ``max_batch`` items and returns one result per item, in order. When it
    raises, the database being away (a transient error) fails every item of the group; any other
    error is one item's fault, so each item is then written on its own and only the bad one
    fails, with the error ``write`` raised for it alone.
    """

    def __init__(
        self, write: Callable[[Sequence[T]], Awaitable[Sequence[R]]], *, max_batch: int, name: str
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._name = name
        self._waiting: _Waiting[T, R] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Write ``item`` with whatever else is waiting; its result once that committed.

        If the caller gives up (a timeout), the item may still be written.
        """
        result: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, result))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_all(), name=self._name)
        return await result

    async def _write_all(self) -> None:
        try:
            while self._waiting:
                group = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._write_group(group)
        finally:
            self._writer = None

    async def _write_group(self, group: _Waiting[T, R]) -> None:
        try:
            await self._deliver(group)
        except TRANSIENT_DB_ERRORS as exc:
            _fail(group, exc)
        except Exception as exc:
            if len(group) == 1:
                _fail(group, exc)
                return
            for one in group:
                try:
                    await self._deliver([one])
                except Exception as alone:
                    _fail([one], alone)
        except BaseException:
            # Cancelled (shutdown): every waiter is cancelled with it rather than left hanging.
            for _, result in [*group, *self._waiting]:
                result.cancel()
            self._waiting.clear()
            raise

    async def _deliver(self, group: _Waiting[T, R]) -> None:
        results = await self._write([item for item, _ in group])
        for (_, result), value in zip(group, results, strict=True):
            if not result.done():  # its caller may have timed out meanwhile
                result.set_result(value)

    async def close(self) -> None:
        """Let the group in flight finish (its callers are waiting for their answers)."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer


def _fail(group: _Waiting[T, R], exc: BaseException) -> None:
    for _, result in group:
        if not result.done():
            result.set_exception(exc)
