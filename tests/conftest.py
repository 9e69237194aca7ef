"""Fixtures shared by every tier: real PostgreSQL, a real Kafka-protocol broker, fresh names."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import pytest

from fireline_runtime.infra import Postgres, find_postgres
from support import infra


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    if infra.use_containers():
        with infra.container_postgres() as pg:
            yield pg
        return
    infra.STATE.mkdir(parents=True, exist_ok=True)
    pg = asyncio.run(find_postgres(infra.STATE))
    yield pg
    pg.stop()


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    """Bootstrap servers of a broker shared by the session (topics are prefixed per test)."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    if infra.use_containers():
        with infra.container_kafka() as bootstrap:
            yield bootstrap
        return
    broker = infra.start_tansu()
    yield broker.bootstrap
    broker.stop()


@pytest.fixture
def faulty_kafka() -> Iterator[infra.Broker]:
    """A broker of this test's own, behind a proxy the test can cut and restore."""
    broker = infra.start_tansu(with_proxy=True)
    yield broker
    broker.stop()


@pytest.fixture
def topic_prefix() -> str:
    return infra.unique("t") + "."


@pytest.fixture
async def database(postgres: Postgres) -> AsyncIterator[str]:
    url = await infra.fresh_database(postgres, "it")
    yield url
    await infra.drop(postgres, url)
