"""The audit log end to end: every audited action, made at identity, auth and pagerduty-ingest,
reaches identity's audit log over Kafka, with its actor, and never with a secret."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from fireline_contracts import api_keys
from support.credentials import admin_session, exchange, new_key
from support.secret_scanning import Scanner, report, write_keys_file
from support.stack import Stack

pytestmark = pytest.mark.e2e

PASSWORD = "a long enough password"

# Failed exchanges are reported once their minute is over (and auth reports every 10 s).
AUDIT_TIMEOUT_S = 120


def _wait_for_entries(
    identity: httpx.Client, expected: set[tuple[str, str]]
) -> list[dict[str, Any]]:
    """The org's entries once one exists for every expected (action, target id).

    Other tests share the stack, and every aggregate has its own partition: an action being
    there says nothing about this test's entry, so each one is waited for by its target.
    """
    deadline = time.monotonic() + AUDIT_TIMEOUT_S
    while True:
        export = identity.get("/v1/audit-events/export")
        assert export.status_code == 200, export.text
        entries = [httpx.Response(200, content=line).json() for line in export.text.splitlines()]
        missing = expected - {(e["action"], e["target"]["id"]) for e in entries}
        if not missing:
            return entries
        assert time.monotonic() < deadline, f"no audit entries for {sorted(missing)}"
        time.sleep(0.5)


def test_every_audited_action_becomes_an_entry_with_its_actor(
    stack: Stack, scanning_keys_file: Path
) -> None:
    identity = admin_session(stack)
    me = identity.get("/v1/me").json()
    key = new_key(identity, f"audited {secrets.token_hex(3)}")
    token = exchange(stack, key)
    rotated_key = new_key(identity, f"audited rotation {secrets.token_hex(3)}")
    rotation = identity.post(
        f"/v1/api-keys/{rotated_key['id']}/rotate", json={"grace_period_minutes": 5}
    )
    assert rotation.status_code == 200, rotation.text
    leaked_key = new_key(identity, f"audited leak {secrets.token_hex(3)}")
    scanner = Scanner("audit-e2e-scanner")
    write_keys_file(scanning_keys_file, scanner)
    leak_report = report(leaked_key["key"], url="https://github.com/acme/audited/blob/1/.env")
    scanned = httpx.post(
        f"{stack.url('identity')}/v1/secret-scanning/github",
        content=leak_report,
        headers=scanner.headers(leak_report),
        timeout=10,
    )
    assert scanned.status_code == 200, scanned.text
    # A well-formed wrong secret for an existing key: counted by auth, reported after its minute.
    wrong = httpx.post(
        f"{stack.url('auth')}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(key["id"], api_keys.generate()),
        timeout=10,
    )
    assert wrong.status_code in (400, 401), wrong.text

    assert identity.patch(f"/v1/api-keys/{key['id']}", json={"name": "renamed"}).is_success
    email = f"audited-{secrets.token_hex(3)}@example.com"
    user = identity.post(
        "/v1/users",
        json={"email": email, "name": "Audited", "role": "member", "password": PASSWORD},
    ).json()
    assert identity.patch(f"/v1/users/{user['id']}", json={"name": "Renamed"}).is_success
    person = httpx.Client(base_url=stack.url("identity"), timeout=10)
    refused = person.post("/v1/session", json={"email": email, "password": "wrong password!"})
    assert refused.status_code == 401
    assert person.post("/v1/session", json={"email": email, "password": PASSWORD}).is_success
    assert person.delete("/v1/session").status_code == 204
    assert identity.patch(f"/v1/users/{user['id']}", json={"active": False}).is_success

    ingest = httpx.Client(
        base_url=stack.url("pagerduty-ingest"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    created = ingest.post(
        "/v1/integrations/pagerduty", json={"name": "Audited", "pagerduty_api_token": "pd-secret"}
    )
    assert created.status_code == 201, created.text
    integration = created.json()
    path = f"/v1/integrations/pagerduty/{integration['id']}"
    assert ingest.patch(path, json={"name": "Audited 2"}).is_success
    rotated = ingest.patch(path, json={"generate_signing_secret": True})
    assert rotated.is_success, rotated.text
    assert ingest.delete(path).status_code == 204
    assert identity.delete(f"/v1/api-keys/{key['id']}").status_code == 204

    on_key = ("key.created", "key.renamed", "key.revoked", "key.exchange_failed")
    on_user = (
        "user.created",
        "user.updated",
        "user.deactivated",
        "login.succeeded",
        "login.failed",
    )
    on_integration = (
        "integration.created",
        "integration.changed",
        "integration.signing_secrets_rotated",
        "integration.deleted",
    )
    entries = _wait_for_entries(
        identity,
        {(a, key["id"]) for a in on_key}
        | {(a, user["id"]) for a in on_user}
        | {(a, integration["id"]) for a in on_integration}
        | {("key.rotated", rotated_key["id"]), ("key.revoked", leaked_key["id"])},
    )

    def one(action: str, target: str) -> dict[str, Any]:
        found = [e for e in entries if e["action"] == action and e["target"]["id"] == target]
        assert len(found) == 1, (action, found)
        return found[0]

    admin = {"type": "user", "id": me["id"]}
    the_key = {"type": "key", "id": key["id"]}
    for action in ("key.created", "key.renamed", "key.revoked"):
        assert one(action, key["id"])["actor"] == admin
    for action in ("user.created", "user.updated", "user.deactivated"):
        assert one(action, user["id"])["actor"] == admin
    assert one("login.failed", user["id"])["address"]
    assert one("login.succeeded", user["id"])["actor"] == {"type": "user", "id": user["id"]}
    # The login's entry names its session, whose end the logout recorded.
    session_id = one("login.succeeded", user["id"])["details"]["session_id"]
    entries = _wait_for_entries(identity, {("session.revoked", session_id)})
    logout = one("session.revoked", session_id)
    assert logout["details"]["reason"] == "logout"
    assert logout["actor"] == {"type": "user", "id": user["id"]}
    assert one("key.rotated", rotated_key["id"])["actor"] == admin
    assert one("key.rotated", rotated_key["id"])["details"]["previous_secret_valid_until"]
    leak = one("key.revoked", leaked_key["id"])
    assert leak["actor"] == {"type": "secret_scanner", "id": None}
    assert leak["details"]["reason"] == "leaked"
    assert leak["details"]["report_url"] == "https://github.com/acme/audited/blob/1/.env"
    failed = one("key.exchange_failed", key["id"])
    assert failed["actor"] == the_key
    assert failed["details"]["attempts"] >= 1
    for action in (
        "integration.created",
        "integration.changed",
        "integration.signing_secrets_rotated",
        "integration.deleted",
    ):
        assert one(action, integration["id"])["actor"] == the_key
    # Every e2e test shares the bootstrap org and its ten active keys: give the slot back.
    assert identity.delete(f"/v1/api-keys/{rotated_key['id']}").status_code == 204
    text = "\n".join(str(e) for e in entries)
    for secret in (
        key["key"],
        token,
        PASSWORD,
        "pd-secret",
        rotated.json()["signing_secret"],
        rotated_key["key"],
        rotation.json()["key"],
        leaked_key["key"],
    ):
        assert secret not in text
