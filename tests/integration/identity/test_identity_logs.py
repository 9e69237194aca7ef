"""Secrets never reach the logs: passwords, API keys, their digests, session tokens."""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

import pytest

from fireline_runtime.observability import JsonFormatter

if TYPE_CHECKING:
    from integration.identity.conftest import Identity

pytestmark = pytest.mark.integration


async def test_captured_logs_contain_no_secret(
    identity: Identity, caplog: pytest.LogCaptureFixture
) -> None:
    # As in production (observability.configure_logging): aiokafka's DEBUG lines dump every
    # produced record verbatim, including KeyCreated's digest, so it is kept at WARNING. (Set
    # first: caplog.set_level also sets its handler's level, and the last call wins there.)
    caplog.set_level(logging.WARNING, logger="aiokafka")
    caplog.set_level(logging.DEBUG)
    member_password = "member password 123"
    wrong_password = "wrong admin password"

    admin = await identity.login()
    await identity.client().post(
        "/v1/session", json={"email": identity.admin_email, "password": wrong_password}
    )
    await identity.add_user(admin, "member@example.com", member_password)
    member = await identity.login("member@example.com", member_password)
    created = (await admin.post("/v1/api-keys", json={"name": "logged"})).json()
    await member.get("/v1/api-keys")
    await admin.patch(f"/v1/api-keys/{created['id']}", json={"name": "logged 2"})
    await admin.delete(f"/v1/api-keys/{created['id']}")
    await member.delete("/v1/session")

    secret = created["key"]
    secrets = {
        "admin password": identity.admin_password,
        "member password": member_password,
        "wrong password": wrong_password,
        "api key": secret,
        "api key random part": secret[4:-6],
        "api key digest": hashlib.sha256(secret.encode()).hexdigest(),
        "session token": admin.cookies["fireline_session"],
    }
    formatter = JsonFormatter("identity")
    rendered = "\n".join(formatter.format(r) for r in caplog.records) + caplog.text
    assert "api key created" in rendered, "the flow was logged at all"
    leaked = [name for name, value in secrets.items() if value in rendered]
    assert leaked == []
