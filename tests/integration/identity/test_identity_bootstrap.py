"""The first admin: created once at start-up (even by two replicas at once) and by the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest

from fireline_contracts import USERS, UserCreated, parse_event
from fireline_identity.domain.errors import InvalidInput
from support.kafka import read_topic

if TYPE_CHECKING:
    from integration.identity.conftest import StartIdentity

pytestmark = pytest.mark.integration

FIRELINE = Path(sys.executable).with_name("fireline")


async def test_two_replicas_starting_together_create_one_default_org(
    start_identity: StartIdentity, database: str
) -> None:
    async with AsyncExitStack() as stack:
        replicas = await asyncio.gather(
            stack.enter_async_context(start_identity()),
            stack.enter_async_context(start_identity()),
        )
        for replica in replicas:
            client = await replica.login()
            me = (await client.get("/v1/me")).json()
            assert (me["org_name"], me["role"]) == ("default", "admin")
        kafka = replicas[0].kafka
        users_topic = replicas[0].topic(USERS)

    # A restart with different bootstrap settings leaves the existing org alone.
    async with start_identity(admin_email="someone.else@example.com") as again:
        assert (await again.login()).cookies

    conn = await asyncpg.connect(database)
    try:
        orgs = await conn.fetch("SELECT name FROM orgs")
        users = await conn.fetch("SELECT email, role FROM users")
        announced = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE event_type = 'UserCreated'"
        )
    finally:
        await conn.close()
    assert [o["name"] for o in orgs] == ["default"]
    assert [(u["email"], u["role"]) for u in users] == [("Admin@Example.com", "admin")]
    assert announced == 1
    records = await read_topic(kafka, users_topic, until=1, timeout=20)
    [event] = [parse_event(r.value) for r in records]
    assert isinstance(event, UserCreated)
    assert event.payload.email == "Admin@Example.com"


async def test_no_org_is_created_without_bootstrap_settings(
    start_identity: StartIdentity, database: str
) -> None:
    async with start_identity(admin_email=None, admin_password=None) as app:
        response = await app.client().post(
            "/v1/session", json={"email": app.admin_email, "password": app.admin_password}
        )
        assert response.status_code == 401
    conn = await asyncpg.connect(database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM orgs") == 0
    finally:
        await conn.close()


async def test_a_weak_bootstrap_password_stops_start_up_with_the_reason(
    start_identity: StartIdentity, database: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        async with start_identity(admin_password="too short"):
            pass
    assert err.value.field == "password"
    assert "too short" not in str(err.value)
    conn = await asyncpg.connect(database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM orgs") == 0
    finally:
        await conn.close()


def _cli(
    database: str, prefix: str, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database, "FIRELINE_TOPIC_PREFIX": prefix}
    return subprocess.run(
        [str(FIRELINE), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_cli_creates_an_org_whose_admin_can_log_in(
    start_identity: StartIdentity, database: str, topic_prefix: str
) -> None:
    # On an empty database: the CLI applies the migrations itself.
    done = await asyncio.to_thread(
        _cli,
        database,
        topic_prefix,
        "org", "create", "--name", "Acme", "--admin-email", " Ops@Acme.example ",
        "--admin-password", "acme admin password",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert set(created) >= {"org_id", "admin_user_id"}
    assert created["org_name"] == "Acme"
    assert created["admin_email"] == "Ops@Acme.example"
    assert "acme admin password" not in done.stdout + done.stderr

    # The password may also come on standard input, out of the process list.
    piped = await asyncio.to_thread(
        _cli,
        database,
        topic_prefix,
        "org", "create", "--name", "Beta", "--admin-email", "ops@beta.example",
        stdin="beta admin password\n",
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr

    duplicate = await asyncio.to_thread(
        _cli,
        database,
        topic_prefix,
        "org", "create", "--name", "ACME", "--admin-email", "x@acme.example",
        "--admin-password", "acme admin password",
    )  # fmt: skip
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr
    weak = await asyncio.to_thread(
        _cli,
        database,
        topic_prefix,
        "org", "create", "--name", "Weak", "--admin-email", "x@weak.example",
        "--admin-password", "short",
    )  # fmt: skip
    assert weak.returncode == 2
    assert "password" in weak.stderr

    async with start_identity() as app:
        client = await app.login("ops@acme.example", "acme admin password")
        me = (await client.get("/v1/me")).json()
        assert me["id"] == created["admin_user_id"]
        assert me["org_id"] == created["org_id"]
        assert me["role"] == "admin"
        beta = await app.login("ops@beta.example", "beta admin password")
        assert (await beta.get("/v1/me")).json()["org_name"] == "Beta"
        # An org already exists, so start-up created no "default" org.
        refused = await app.client().post(
            "/v1/session", json={"email": app.admin_email, "password": app.admin_password}
        )
        assert refused.status_code == 401

        records = await read_topic(app.kafka, app.topic(USERS), until=2, timeout=20)
    events = [parse_event(r.value) for r in records]
    admins = {str(e.payload.user_id) for e in events if isinstance(e, UserCreated)}
    assert created["admin_user_id"] in admins
