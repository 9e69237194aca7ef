"""One auth app per test module (starting one costs a consumer-group join)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fireline_devtools.postgres import Postgres
from integration.auth.auth_harness import AuthHarness, running, settings_for
from support import infra


@pytest.fixture(scope="module")
async def auth(postgres: Postgres, kafka: str) -> AsyncIterator[AuthHarness]:
    url = await infra.fresh_database(postgres, "auth")
    try:
        settings = settings_for(url, kafka, infra.unique("t") + ".")
        async with running(settings, kafka) as harness:
            yield harness
    finally:
        await infra.drop(postgres, url)
