"""The e2e tier: the four services as processes, reached only over HTTP and Kafka."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fireline_runtime.infra import Postgres
from support import infra
from support.stack import Stack, running_stack


@pytest.fixture(scope="session")
def e2e_broker() -> Iterator[infra.Broker]:
    """The e2e broker sits behind a proxy so tests can stop and restore it."""
    broker = infra.start_tansu(with_proxy=True)
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def stack(postgres: Postgres, e2e_broker: infra.Broker) -> Iterator[Stack]:
    with running_stack(postgres, e2e_broker) as s:
        yield s


@pytest.fixture(autouse=True)
def _broker_back(e2e_broker: infra.Broker) -> Iterator[None]:
    # A test that cuts the broker must not leave it cut for the next one.
    yield
    if e2e_broker.proxy is not None:
        e2e_broker.restore()
