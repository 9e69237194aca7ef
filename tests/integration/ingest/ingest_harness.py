"""Running the pagerduty-ingest app in-process against real PostgreSQL and a real broker.

The auth service is replaced by :class:`support.token_issuer.TokenIssuer`, configured with
:data:`ISSUER` and :data:`AUDIENCE` (the ``conftest`` ``issuer`` fixture), so the app's own token
verifier is exercised unchanged.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from fireline_contracts import ALERTS, EventEnvelope, parse_event, topic_name
from fireline_pagerduty_ingest.bootstrap import create_app
from fireline_pagerduty_ingest.config import Settings
from fireline_runtime.service import ServiceRuntime
from support.kafka import read_topic
from support.waiting import wait_for

ENCRYPTION_KEY = base64.urlsafe_b64encode(b"fireline-ingest-test-key-32bytes").decode()
ISSUER = "http://auth.fireline.test"
AUDIENCE = "fireline-api"
PUBLIC_URL = "https://ingest.fireline.test"
ALLOWED_HOSTS = "api.pagerduty.com,api.eu.pagerduty.com,127.0.0.1"
"""PagerDuty's API hosts plus loopback, where the tests' fake PagerDuty listens."""


def make_settings(
    *, database_url: str, bootstrap: str, topic_prefix: str, jwks_url: str, **overrides: Any
) -> Settings:
    """Settings for a test app; short timeouts so degraded paths finish quickly."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": bootstrap,
        "topic_prefix": topic_prefix,
        "kafka_session_timeout_ms": 6000,
        "outbox_poll_interval_s": 0.2,
        "token_issuer": ISSUER,
        "token_audience": AUDIENCE,
        "jwks_url": jwks_url,
        "public_url": PUBLIC_URL,
        "ingest_encryption_key": ENCRYPTION_KEY,
        "ingest_poll_interval_s": 0.2,
        "pagerduty_allowed_hosts_text": ALLOWED_HOSTS,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class IngestApp:
    """A running app and an HTTP client bound to it."""

    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings

    @property
    def runtime(self) -> ServiceRuntime:
        runtime = self.app.state.runtime
        assert isinstance(runtime, ServiceRuntime)
        return runtime

    @property
    def alerts_topic(self) -> str:
        return topic_name(ALERTS, self.settings.topic_prefix)

    async def create_integration(self, token: str, **body: Any) -> dict[str, Any]:
        body.setdefault("name", "Checkout")
        response = await self.client.post(
            "/v1/integrations/pagerduty", json=body, headers=bearer(token)
        )
        assert response.status_code == 201, response.text
        document: dict[str, Any] = response.json()
        return document

    async def deliver(
        self,
        integration_id: str,
        body: bytes,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        return await self.client.post(
            f"/webhooks/pagerduty/{integration_id}",
            content=body,
            headers=dict(headers),
            params=dict(params or {}),
        )

    async def deliveries(self) -> list[asyncpg.Record]:
        """Every stored delivery, oldest first."""
        async with self.runtime.pool.acquire() as conn:
            rows: list[asyncpg.Record] = await conn.fetch("SELECT * FROM deliveries ORDER BY id")
            return rows

    async def settled(self, timeout: float = 20.0) -> bool:
        """Every delivery handled and every outbox row sent to the broker."""

        async def done() -> bool:
            async with self.runtime.pool.acquire() as conn:
                pending = await conn.fetchval(
                    "SELECT (SELECT count(*) FROM deliveries WHERE status = 'received')"
                    " + (SELECT count(*) FROM outbox WHERE published_at IS NULL)"
                )
            return bool(pending == 0)

        return await wait_for(done, timeout=timeout)

    async def alerts(self, *, until: int, timeout: float = 15.0) -> list[EventEnvelope]:
        """Alert events on the topic (read from the beginning), in topic order."""
        records = await read_topic(
            self.settings.kafka_bootstrap_servers, self.alerts_topic, until=until, timeout=timeout
        )
        return [parse_event(record.value) for record in records]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[IngestApp]:
    """The app with its lifespan started, and a client talking to it in-process."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield IngestApp(app=app, client=client, settings=settings)


@dataclass(frozen=True)
class Executed:
    buffers: int
    """Shared buffers the statement touched: a count of the work, not a time."""
    rows: int


async def executed(conn: asyncpg.Connection, statement: str, *args: Any) -> Executed:
    """Run ``statement`` under EXPLAIN (ANALYZE, BUFFERS) in a transaction rolled back after."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        plan = await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, *args)
    finally:
        await transaction.rollback()
    top = json.loads(plan)[0]["Plan"]
    return Executed(
        int(top["Shared Hit Blocks"]) + int(top["Shared Read Blocks"]), int(top["Actual Rows"])
    )
