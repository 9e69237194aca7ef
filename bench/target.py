"""What the bench measures: a stack it starts itself, or one already running (all URLs given)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from bench.options import External
from fireline_devtools.brokers import EmbeddedBroker
from fireline_devtools.postgres import Postgres, find_postgres
from support import infra
from support.stack import Stack, drop_stack_databases, start_stack

RAISED_FAILED_AUTH_LIMIT = 1_000_000
"""Auth's failed-authentication limit in the stack the bench starts. Scenarios 5 and 6 poll the
token exchange every 5 ms with keys that are not (yet, or any longer) valid; at the default (10 a
minute per address) they would measure the limiter's 429s, not key propagation."""


@dataclass(frozen=True)
class Target(External):
    """The stack under measurement: its URLs and credentials, and what the report says of it."""

    started_here: bool
    failed_auth_limit: int | None
    """The raised limit when the bench started the stack; None when it is not known."""
    postgres_version: str
    broker: str
    auth_env: dict[str, str] | None = None
    """The auth service's environment when the bench started it (scenario 7 runs auth's CLI with
    it); None for a running stack. Never written to the results."""
    notifications_url: str = ""
    """The notifications service, when the bench started it (scenarios 8 and 9)."""

    def limiter_json(self) -> dict[str, object]:
        if self.failed_auth_limit is None:
            return {
                "failed_auth_limit": None,
                "raised": False,
                "note": "external stack: limiter as deployed; 429s are counted in scenarios 5/6",
            }
        return {
            "failed_auth_limit": self.failed_auth_limit,
            "raised": True,
            "note": "raised so scenarios 5 and 6 measure propagation, not the limiter",
        }


def external(given: External) -> Target:
    return Target(
        **vars(given),
        started_here=False,
        failed_auth_limit=None,
        postgres_version="unknown (external stack)",
        broker="external",
    )


@contextlib.asynccontextmanager
async def own_stack(broker_kind: str = "kafka") -> AsyncIterator[Target]:
    """The four services as processes on fresh databases, as the e2e tests start them."""
    infra.STATE.mkdir(parents=True, exist_ok=True)
    postgres = await find_postgres(infra.STATE)
    broker, broker_name = _broker(broker_kind)
    stack: Stack | None = None
    try:
        stack = await start_stack(
            postgres,
            broker,
            extra_env={
                "auth": {"FIRELINE_FAILED_AUTH_LIMIT": str(RAISED_FAILED_AUTH_LIMIT)},
                # Scenarios 8 and 9 receive the webhooks on loopback.
                "notifications": {"FIRELINE_NOTIFICATIONS_ALLOWED_HOSTS": "127.0.0.1"},
            },
        )
        yield Target(
            identity_url=stack.url("identity"),
            auth_url=stack.url("auth"),
            incidents_url=stack.url("incidents"),
            ingest_url=stack.url("pagerduty-ingest"),
            admin_email=stack.admin_email,
            admin_password=stack.admin_password,
            kafka_bootstrap=broker.bootstrap,
            topic_prefix=stack.topic_prefix,
            started_here=True,
            failed_auth_limit=RAISED_FAILED_AUTH_LIMIT,
            postgres_version=await _postgres_version(postgres),
            broker=broker_name,
            auth_env=stack.env("auth"),
            notifications_url=stack.url("notifications"),
        )
    finally:
        if stack is not None:
            stack.stop()
            await drop_stack_databases(stack)
        broker.stop()
        postgres.stop()


def _broker(kind: str) -> tuple[infra.Broker, str]:
    """``KAFKA_BOOTSTRAP_SERVERS`` when set (as in the test suite), else a broker started here."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        return infra.Broker(EmbeddedBroker("external", "unknown", given)), "external"
    broker = infra.start_broker(f"bench-{kind}", kind=kind)
    return broker, broker.embedded.description


async def _postgres_version(postgres: Postgres) -> str:
    conn = await asyncpg.connect(postgres.admin_url)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()
