"""A service's app run in the test's own process: its lifespan started, its consumers joined,
and an httpx client that talks to it without a socket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from fireline_runtime.service import ServiceRuntime
from support.waiting import wait_for


@asynccontextmanager
async def serving(app: FastAPI, *, join_timeout: float) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        runtime: ServiceRuntime = app.state.runtime

        async def consumers_started() -> bool:
            return runtime.broker_started

        assert await wait_for(consumers_started, join_timeout), "the consumers never joined"
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
