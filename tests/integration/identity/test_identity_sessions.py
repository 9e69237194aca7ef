"""Human sessions: login, me, logout, generic failures, throttling and the Origin rule."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from integration.identity.conftest import Identity, StartIdentity

pytestmark = pytest.mark.integration

ADMIN_EMAIL = "Admin@Example.com"
ADMIN_PASSWORD = "correct horse battery staple"
PUBLIC_URL = "http://test"


async def test_login_sets_a_strict_httponly_cookie_and_me_shows_the_user(
    identity: Identity,
) -> None:
    client = identity.client()
    response = await client.post(
        "/v1/session", json={"email": "  admin@EXAMPLE.com ", "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200
    me = response.json()
    assert me["email"] == ADMIN_EMAIL
    assert me["role"] == "admin"
    assert me["org_name"] == "default"
    assert set(me) == {"id", "email", "name", "role", "org_id", "org_name"}

    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "secure" not in attributes, "plain-HTTP development turned Secure off"
    assert response.headers["cache-control"] == "no-store"

    again = await client.get("/v1/me")
    assert again.status_code == 200
    assert again.json() == me


async def test_the_database_keeps_only_a_digest_of_the_session_token(identity: Identity) -> None:
    client = await identity.login()
    token = client.cookies["fireline_session"]
    async with identity.runtime.pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM sessions")
    assert len(rows) == 1
    assert rows[0]["token_digest"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr([dict(r) for r in rows])


async def test_logout_revokes_the_session_on_the_server(identity: Identity) -> None:
    client = await identity.login()
    token = client.cookies["fireline_session"]

    response = await client.delete("/v1/session")
    assert response.status_code == 204
    assert (await client.get("/v1/me")).status_code == 401

    # Replaying the old cookie value (as a thief would) does not work either.
    replay = identity.client()
    replay.cookies.set("fireline_session", token)
    refused = await replay.get("/v1/me")
    assert refused.status_code == 401
    assert refused.json()["code"] == "unauthenticated"
    assert refused.headers["content-type"].startswith("application/problem+json")


async def test_an_idle_session_expires(identity: Identity) -> None:
    client = await identity.login()
    idle = identity.context.policy.idle_timeout + timedelta(minutes=1)
    async with identity.runtime.pool.acquire() as conn:
        await conn.execute("UPDATE sessions SET last_seen_at = last_seen_at - $1::interval", idle)
    assert (await client.get("/v1/me")).status_code == 401


async def test_unknown_email_wrong_password_and_inactive_user_get_the_same_answer(
    identity: Identity,
) -> None:
    admin = await identity.login()
    gone = await identity.add_user(admin, "gone@example.com", "a long enough password")
    deactivated = await admin.patch(f"/v1/users/{gone['id']}", json={"active": False})
    assert deactivated.status_code == 200

    answers = []
    for email, password in [
        ("nobody@example.com", ADMIN_PASSWORD),
        (ADMIN_EMAIL, "wrong password here"),
        ("gone@example.com", "a long enough password"),
    ]:
        response = await identity.client(address="10.0.0.9").post(
            "/v1/session", json={"email": email, "password": password}
        )
        body = response.json()
        body.pop("instance", None)
        answers.append((response.status_code, body, "set-cookie" in response.headers))
    assert answers[0][0] == 401
    assert answers[0][1]["code"] == "invalid_credentials"
    assert answers[0][2] is False
    assert answers[0] == answers[1] == answers[2]


async def test_an_attacker_cannot_lock_the_admin_out(identity: Identity) -> None:
    owner = identity.client(address="10.0.0.5")
    first = await owner.post("/v1/session", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert first.status_code == 200

    attacker = identity.client(address="10.0.0.1")
    for _ in range(5):
        response = await attacker.post(
            "/v1/session", json={"email": ADMIN_EMAIL, "password": "not the password"}
        )
        assert response.status_code == 401
    # The attacker's address is done guessing this account, even with the right password...
    refused = await attacker.post(
        "/v1/session", json={"email": ADMIN_EMAIL.lower(), "password": ADMIN_PASSWORD}
    )
    assert refused.status_code == 429
    assert refused.json()["code"] == "too_many_attempts"
    assert 0 < int(refused.headers["retry-after"]) <= 15 * 60
    # ...and more addresses take the account's failures past the slow-down threshold...
    for n in range(2, 4):
        for _ in range(5):
            await identity.client(address=f"10.0.1.{n}").post(
                "/v1/session", json={"email": ADMIN_EMAIL, "password": "not the password"}
            )
    slowed = await identity.client(address="10.0.2.1").post(
        "/v1/session", json={"email": ADMIN_EMAIL, "password": "not the password"}
    )
    assert slowed.status_code == 429
    assert 0 < int(slowed.headers["retry-after"]) <= 60

    # ...while the owner logs in from their own address at once.
    again = await owner.post("/v1/session", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert again.status_code == 200


async def test_a_success_clears_the_failures_from_its_address(identity: Identity) -> None:
    client = identity.client(address="10.0.0.3")
    for _ in range(4):
        await client.post("/v1/session", json={"email": ADMIN_EMAIL, "password": "nope nope"})
    ok = await client.post("/v1/session", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert ok.status_code == 200
    for _ in range(4):
        again = await client.post(
            "/v1/session", json={"email": ADMIN_EMAIL, "password": "nope nope"}
        )
        assert again.status_code == 401


async def test_a_nul_in_the_login_email_is_a_400(identity: Identity) -> None:
    response = await identity.client(address="10.0.0.9").post(
        "/v1/session", json={"email": "admin\u0000@fireline.local", "password": ADMIN_PASSWORD}
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_text"


async def test_repeated_failures_from_one_address_are_throttled(identity: Identity) -> None:
    spray = identity.client(address="10.0.0.66")
    for i in range(20):
        response = await spray.post(
            "/v1/session", json={"email": f"user{i}@example.com", "password": "guess guess"}
        )
        assert response.status_code == 401
    refused = await spray.post(
        "/v1/session", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0

    elsewhere = await identity.client(address="10.0.0.67").post(
        "/v1/session", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert elsewhere.status_code == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://test:8080"])
async def test_state_changes_from_a_foreign_origin_are_refused(
    identity: Identity, origin: str
) -> None:
    login = await identity.client(headers={"Origin": origin}).post(
        "/v1/session", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert login.status_code == 403
    assert login.json()["code"] == "foreign_origin"
    assert "set-cookie" not in login.headers

    admin = await identity.login()
    created = await admin.post("/v1/api-keys", json={"name": "ci"}, headers={"Origin": origin})
    assert created.status_code == 403
    assert created.json()["code"] == "foreign_origin"
    logout = await admin.delete("/v1/session", headers={"Origin": origin})
    assert logout.status_code == 403
    listed = await admin.get("/v1/api-keys", headers={"Origin": origin})
    assert listed.status_code == 200
    assert listed.json()["items"] == [], "the refused create changed nothing"


async def test_own_origin_and_clients_without_origin_are_accepted(identity: Identity) -> None:
    admin = await identity.login(headers={"Origin": PUBLIC_URL})
    created = await admin.post("/v1/api-keys", json={"name": "same origin"})
    assert created.status_code == 201
    no_origin = await identity.login()
    created = await no_origin.post("/v1/api-keys", json={"name": "cli"})
    assert created.status_code == 201


async def test_secure_cookie_and_extra_allowed_origins(start_identity: StartIdentity) -> None:
    async with start_identity(
        cookie_secure=True,
        public_url="https://id.example",
        allowed_origins="https://ui.example, http://localhost:5173",
    ) as harness:
        client = harness.client(headers={"Origin": "http://localhost:5173"})
        response = await client.post(
            "/v1/session", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert response.status_code == 200
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("__Host-fireline_session=")
        assert "secure" in cookie.lower().replace(" ", "").split(";")
        foreign = await harness.client(headers={"Origin": "https://other.example"}).post(
            "/v1/session", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert foreign.status_code == 403


async def test_requests_without_a_session_are_unauthenticated(identity: Identity) -> None:
    client = identity.client()
    for method, path in [
        ("GET", "/v1/me"),
        ("GET", "/v1/api-keys"),
        ("POST", "/v1/api-keys"),
        ("GET", "/v1/users"),
    ]:
        response = await client.request(method, path, json={"name": "x"})
        assert response.status_code == 401, (method, path)
        assert response.json()["code"] == "unauthenticated"


async def test_the_api_is_described_in_openapi(identity: Identity) -> None:
    response = await identity.client().get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/v1/session", "/v1/me", "/v1/users", "/v1/users/{user_id}"} <= set(paths)
    assert {"/v1/api-keys", "/v1/api-keys/{key_id}"} <= set(paths)
    assert set(paths["/v1/api-keys/{key_id}"]) == {"patch", "delete"}
