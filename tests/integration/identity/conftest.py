"""Identity's integration harness: the real app on a fresh database and a real broker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fireline_contracts import TopicSpec, topic_name
from fireline_identity.bootstrap import create_app
from fireline_identity.config import Settings
from fireline_identity.domain.sessions import SessionUser
from fireline_identity.domain.users import Role
from fireline_identity.service_layer import orgs
from fireline_identity.service_layer.context import IdentityContext
from fireline_identity.service_layer.orgs import CreatedOrg
from fireline_runtime.service import ServiceRuntime

PUBLIC_URL = "http://test"
ADMIN_EMAIL = "Admin@Example.com"
ADMIN_PASSWORD = "correct horse battery staple"


def identity_settings(database: str, kafka: str, prefix: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database,
        "kafka_bootstrap_servers": kafka,
        "topic_prefix": prefix,
        "kafka_session_timeout_ms": 6000,
        "outbox_poll_interval_s": 0.2,
        "public_url": PUBLIC_URL,
        "cookie_secure": False,
        "admin_email": ADMIN_EMAIL,
        "admin_password": ADMIN_PASSWORD,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Identity:
    """A running identity app and ways to talk to it."""

    app: FastAPI
    settings: Settings
    kafka: str
    admin_email: str = ADMIN_EMAIL
    admin_password: str = ADMIN_PASSWORD
    public_url: str = PUBLIC_URL
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def runtime(self) -> ServiceRuntime:
        runtime: ServiceRuntime = self.app.state.runtime
        return runtime

    @property
    def context(self) -> IdentityContext:
        context: IdentityContext = self.app.state.context
        return context

    def topic(self, spec: TopicSpec) -> str:
        return topic_name(spec, self.settings.topic_prefix)

    def client(
        self, *, address: str = "127.0.0.1", headers: dict[str, str] | None = None
    ) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        client = httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL, headers=headers)
        self._clients.append(client)
        return client

    async def login(
        self, email: str | None = None, password: str | None = None, **kwargs: Any
    ) -> httpx.AsyncClient:
        client = self.client(**kwargs)
        response = await client.post(
            "/v1/session",
            json={"email": email or self.admin_email, "password": password or self.admin_password},
        )
        assert response.status_code == 200, response.text
        return client

    async def create_org(self, name: str, email: str, password: str) -> CreatedOrg:
        return await orgs.create_org(
            uow=self.context.uow(),
            hasher=self.context.hasher,
            name=name,
            admin_email=email,
            admin_password=password,
        )

    async def add_user(
        self, admin: httpx.AsyncClient, email: str, password: str, role: str = "member"
    ) -> dict[str, Any]:
        response = await admin.post(
            "/v1/users",
            json={"email": email, "name": email.split("@")[0], "role": role, "password": password},
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()


def as_actor(created: CreatedOrg) -> SessionUser:
    """The org's first admin as a use-case actor (for setting up state without HTTP)."""
    admin = created.admin
    assert admin.role is Role.ADMIN
    return SessionUser(
        session_id=admin.id,
        user_id=admin.id,
        org_id=created.org_id,
        org_name=created.org_name,
        email=admin.email,
        name=admin.name,
        role=admin.role,
    )


StartIdentity = Callable[..., AbstractAsyncContextManager[Identity]]


@pytest.fixture
def start_identity(database: str, kafka: str, topic_prefix: str) -> StartIdentity:
    """Start an identity app on this test's database with some settings overridden."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Identity]:
        settings = identity_settings(database, kafka, topic_prefix, **overrides)
        app = create_app(settings)
        lifespan = app.router.lifespan_context(app)
        try:
            await lifespan.__aenter__()
        except BaseException:
            # The runtime does not undo a half-done start (its pool stays open): do it here.
            await app.state.runtime.stop()
            raise
        harness = Identity(app=app, settings=settings, kafka=kafka)
        try:
            yield harness
        finally:
            await harness.close()
            await lifespan.__aexit__(None, None, None)

    return start


@pytest.fixture
async def identity(start_identity: StartIdentity) -> AsyncIterator[Identity]:
    async with start_identity() as harness:
        yield harness
