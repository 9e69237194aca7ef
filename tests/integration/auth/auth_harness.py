"""A running auth app for integration tests, fed with key events the way identity feeds it."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from fireline_auth.bootstrap import create_app
from fireline_auth.config import Settings
from fireline_contracts import (
    KEYS,
    EventEnvelope,
    KeyCreated,
    KeyCreatedPayload,
    KeyRevoked,
    KeyRevokedPayload,
    api_keys,
    scopes,
    topic_name,
)
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.tokens import JwksCache, TokenVerifier
from support.kafka import client_options
from support.waiting import wait_for

ISSUER = "http://auth.test"
AUDIENCE = "fireline-api"
ALL_SCOPES = scopes.ALL_SCOPES


def encryption_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def settings_for(database_url: str, kafka: str, prefix: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": kafka,
        "topic_prefix": prefix,
        "kafka_session_timeout_ms": 6000,
        "outbox_poll_interval_s": 0.2,
        "token_issuer": ISSUER,
        "token_audience": AUDIENCE,
        "signing_key_encryption_key": encryption_key(),
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Key:
    """An API key as identity would have issued it."""

    key_id: uuid.UUID
    org_id: uuid.UUID
    secret: str
    scopes: tuple[str, ...]
    created: KeyCreated

    @property
    def client_id(self) -> str:
        return str(self.key_id)

    @property
    def digest(self) -> str:
        return api_keys.digest(self.secret)


@dataclass
class AuthHarness:
    app: FastAPI
    settings: Settings
    client: httpx.AsyncClient
    kafka: str
    producer: AIOKafkaProducer
    seen: list[Key] = field(default_factory=list)

    @property
    def runtime(self) -> ServiceRuntime:
        runtime: ServiceRuntime = self.app.state.runtime
        return runtime

    def client_from(self, host: str) -> httpx.AsyncClient:
        """Another client of the same app, calling from ``host`` (rate limits are per address)."""
        transport = httpx.ASGITransport(app=self.app, client=(host, 40000))
        return httpx.AsyncClient(transport=transport, base_url=ISSUER)

    def verifier(self) -> TokenVerifier:
        """The shared verifier, fetching this service's JWKS through the ASGI client."""
        jwks = JwksCache.from_url(self.client, f"{ISSUER}/.well-known/jwks.json")
        return TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE)

    async def publish(self, *events: EventEnvelope) -> None:
        topic = topic_name(KEYS, self.settings.topic_prefix)
        for event in events:
            await self.producer.send_and_wait(topic, event.to_bytes(), key=event.kafka_key.encode())

    async def row(self, key_id: uuid.UUID) -> dict[str, Any] | None:
        async with self.runtime.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM api_keys WHERE key_id = $1", key_id)
        return dict(row) if row is not None else None

    async def wait_row(self, key_id: uuid.UUID, **expected: Any) -> dict[str, Any]:
        async def matches() -> bool:
            row = await self.row(key_id)
            return row is not None and all(
                (row[k] is not None) if v is ... else row[k] == v for k, v in expected.items()
            )

        assert await wait_for(matches, timeout=20, interval=0.05), f"projection of {key_id}"
        row = await self.row(key_id)
        assert row is not None
        return row

    def key_created(
        self,
        *,
        org_id: uuid.UUID | None = None,
        scopes: tuple[str, ...] = ALL_SCOPES,
        expires_at: datetime | None = None,
        name: str = "ci",
    ) -> Key:
        secret = api_keys.generate()
        key_id = uuid.uuid4()
        org = org_id or uuid.uuid4()
        event = KeyCreated(
            org_id=org,
            payload=KeyCreatedPayload(
                key_id=key_id,
                name=name,
                digest=api_keys.digest(secret),
                scopes=scopes,
                expires_at=expires_at,
                created_by=None,
                created_at=datetime.now(UTC),
            ),
        )
        key = Key(key_id, org, secret, scopes, event)
        self.seen.append(key)
        return key

    async def create_key(self, **kwargs: Any) -> Key:
        """Publish KeyCreated and wait until auth's projection has it."""
        key = self.key_created(**kwargs)
        await self.publish(key.created)
        await self.wait_row(key.key_id, digest=key.digest)
        return key

    def key_revoked(self, key: Key) -> KeyRevoked:
        return KeyRevoked(
            org_id=key.org_id,
            payload=KeyRevokedPayload(key_id=key.key_id, revoked_at=datetime.now(UTC)),
        )

    async def revoke(self, key: Key) -> None:
        await self.publish(self.key_revoked(key))
        await self.wait_row(key.key_id, revoked_at=...)


@asynccontextmanager
async def running(
    settings: Settings, kafka: str, *, app: FastAPI | None = None
) -> AsyncIterator[AuthHarness]:
    app = app or create_app(settings)
    async with app.router.lifespan_context(app):
        runtime: ServiceRuntime = app.state.runtime

        async def consumers_ready() -> bool:
            return runtime.broker_started

        assert await wait_for(consumers_ready, timeout=30)
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka, enable_idempotence=False, **client_options()
        )
        await producer.start()
        transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 50000))
        try:
            async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
                yield AuthHarness(app, settings, client, kafka, producer)
        finally:
            await producer.stop()


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


class Clock:
    """The service's wall clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def kids(client: httpx.AsyncClient) -> list[str]:
    response = await client.get("/.well-known/jwks.json")
    return [k["kid"] for k in response.json()["keys"]]


async def token_of(auth: AuthHarness, client_id: str, secret: str) -> str:
    response = await auth.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(client_id, secret)
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])
