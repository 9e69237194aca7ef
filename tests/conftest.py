"""Fixtures shared by every tier: real PostgreSQL, a real Kafka broker, fresh names."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from fireline_devtools.brokers import EmbeddedBroker
from fireline_devtools.postgres import Postgres, find_postgres
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
def kafka_broker() -> Iterator[infra.Broker]:
    """The broker the session shares (topics are prefixed per test); never taken away."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield infra.Broker(EmbeddedBroker("external", "unknown", given))
        return
    if infra.use_containers():
        with infra.container_kafka() as bootstrap:
            yield infra.Broker(EmbeddedBroker("external", "testcontainers", bootstrap))
        return
    broker = infra.start_broker("session")
    # What this broker's clients must be told (Tansu's workarounds) reaches the services and the
    # settings objects tests build in this process alike; so do the super user's credentials,
    # with which in-process services and tests' own clients connect (a stack's processes are
    # each given their own principal instead: support.stack).
    told = broker.client_env | broker.admin_env
    saved = {name: os.environ.get(name) for name in told}
    os.environ.update(told)
    yield broker
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    broker.stop()


@pytest.fixture(scope="session")
def kafka(kafka_broker: infra.Broker) -> str:
    """Bootstrap servers of the session's broker."""
    return kafka_broker.bootstrap


@pytest.fixture(scope="session")
def session_faulty_broker(kafka_broker: infra.Broker) -> Iterator[infra.Broker]:
    """A second broker, for the tests that take theirs away (and the e2e stack, which does)."""
    broker = infra.start_broker("faulty", faulty=True)
    yield broker
    broker.stop()


@pytest.fixture
def faulty_kafka(session_faulty_broker: infra.Broker) -> Iterator[infra.Broker]:
    """A broker this test may cut and restore; it is back whatever the test did."""
    yield session_faulty_broker
    session_faulty_broker.restore()


@pytest.fixture
def topic_prefix() -> str:
    return infra.unique("t") + "."


@pytest.fixture
async def database(postgres: Postgres) -> AsyncIterator[str]:
    url = await infra.fresh_database(postgres, "it")
    yield url
    await infra.drop(postgres, url)


@pytest.fixture(scope="session")
def scanning_keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the stacks' identity looks for secret-scanning keys; absent until a test writes it."""
    return tmp_path_factory.mktemp("secret-scanning") / "public-keys.json"
