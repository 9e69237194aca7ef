"""Fixtures of the pagerduty-ingest integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from integration.ingest.ingest_harness import AUDIENCE, ISSUER
from support.fake_pagerduty import FakePagerDuty
from support.pagerduty_fixtures import ONCALLS, USERS
from support.token_issuer import TokenIssuer


@pytest.fixture(scope="session")
def issuer() -> Iterator[TokenIssuer]:
    with TokenIssuer(issuer_url=ISSUER, audience=AUDIENCE) as token_issuer:
        yield token_issuer


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    async with FakePagerDuty(users=USERS, oncalls=ONCALLS) as fake:
        yield fake
