"""Fixtures of the pagerduty-ingest integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from fireline_pagerduty_ingest.config import Settings
from fireline_runtime.migrations import apply, load, runtime_migrations
from integration.ingest.ingest_harness import AUDIENCE, ISSUER, IngestApp, make_settings, running
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


@pytest.fixture
def settings(database: str, kafka: str, topic_prefix: str, issuer: TokenIssuer) -> Settings:
    return make_settings(
        database_url=database, bootstrap=kafka, topic_prefix=topic_prefix, jwks_url=issuer.jwks_url
    )


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[IngestApp]:
    async with running(settings) as app:
        yield app


@pytest.fixture
async def conn(database: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the test database with the runtime's and ingest's migrations applied, for
    tests of ingest's SQL without the app around it."""
    connection = await asyncpg.connect(database)
    try:
        await apply(
            connection,
            runtime_migrations() + load("pagerduty-ingest", "fireline_pagerduty_ingest.migrations"),
        )
        yield connection
    finally:
        await connection.close()
