"""Fixtures of the pagerduty-ingest integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from integration.ingest.ingest_harness import TokenIssuer
from support.fake_pagerduty import FakePagerDuty
from support.pagerduty_fixtures import ONCALLS, USERS


@pytest.fixture(scope="session")
def issuer() -> Iterator[TokenIssuer]:
    token_issuer = TokenIssuer().start()
    yield token_issuer
    token_issuer.stop()


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    async with FakePagerDuty(users=USERS, oncalls=ONCALLS) as fake:
        yield fake
