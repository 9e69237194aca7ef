"""The e2e tier: the four services as processes, reached only over HTTP and Kafka."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fireline_devtools.postgres import Postgres
from support import infra
from support.stack import Stack, running_stack


@pytest.fixture(scope="session")
def stack(postgres: Postgres, session_faulty_broker: infra.Broker) -> Iterator[Stack]:
    """The stack's broker is one tests may take away (and must bring back)."""
    with running_stack(postgres, session_faulty_broker) as s:
        yield s


@pytest.fixture(autouse=True)
def _broker_back(request: pytest.FixtureRequest) -> Iterator[None]:
    # A test that takes the broker away must not leave it away for the next one.
    uses_it = "stack" in request.fixturenames
    broker: infra.Broker | None = (
        request.getfixturevalue("session_faulty_broker") if uses_it else None
    )
    yield
    if broker is not None:
        broker.restore()
