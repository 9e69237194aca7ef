"""The users API: admins manage their org's users; every change is announced on the users topic."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from fireline_contracts import USERS, UserCreated, UserDeactivated, UserUpdated, parse_event
from support.kafka import read_topic

if TYPE_CHECKING:
    from integration.identity.conftest import Identity

pytestmark = pytest.mark.integration

PASSWORD = "twelve chars or more"


async def test_users_lifecycle_is_announced_in_order_on_the_users_topic(
    identity: Identity,
) -> None:
    admin = await identity.login()
    created = await admin.post(
        "/v1/users",
        json={
            "email": "  Bob@Example.COM ",
            "name": " Bob ",
            "role": "member",
            "password": PASSWORD,
        },
    )
    assert created.status_code == 201
    bob = created.json()
    assert set(bob) == {"id", "email", "name", "role", "active"}
    assert (bob["email"], bob["name"], bob["role"], bob["active"]) == (
        "Bob@Example.COM",
        "Bob",
        "member",
        True,
    )

    # Bob logs in with any casing of his email.
    bob_client = await identity.login("bob@example.com", PASSWORD)

    renamed = await admin.patch(f"/v1/users/{bob['id']}", json={"name": "Robert"})
    assert renamed.json()["name"] == "Robert"
    moved = await admin.patch(f"/v1/users/{bob['id']}", json={"email": "robert@example.com"})
    assert moved.json()["email"] == "robert@example.com"
    unchanged = await admin.patch(f"/v1/users/{bob['id']}", json={"name": "Robert"})
    assert unchanged.status_code == 200
    gone = await admin.patch(f"/v1/users/{bob['id']}", json={"active": False})
    assert gone.status_code == 200
    assert gone.json()["active"] is False

    # Deactivation ends Bob's sessions at once and stops him logging in.
    assert (await bob_client.get("/v1/me")).status_code == 401
    relogin = await identity.client().post(
        "/v1/session", json={"email": "robert@example.com", "password": PASSWORD}
    )
    assert relogin.status_code == 401

    listed = await admin.get("/v1/users")
    assert listed.status_code == 200
    emails = [u["email"] for u in listed.json()["items"]]
    assert emails == [identity.admin_email, "robert@example.com"]

    records = await read_topic(identity.kafka, identity.topic(USERS), until=5, timeout=20)
    events = [parse_event(r.value) for r in records]
    bobs = [
        (r, e)
        for r, e in zip(records, events, strict=True)
        if isinstance(e, UserCreated | UserUpdated | UserDeactivated)
        and str(e.payload.user_id) == bob["id"]
    ]
    assert [type(e) for _, e in bobs] == [UserCreated, UserUpdated, UserUpdated, UserDeactivated]
    assert all(r.key == bob["id"].encode() for r, _ in bobs)
    final = bobs[-1][1]
    assert isinstance(final, UserDeactivated)
    assert final.payload.email == "robert@example.com"
    assert final.payload.name == "Robert"
    assert final.payload.active is False
    assert all(PASSWORD.encode() not in r.value for r in records)


async def test_emails_are_unique_per_org_whatever_their_case(identity: Identity) -> None:
    admin = await identity.login()
    await identity.add_user(admin, "carol@example.com", PASSWORD)
    duplicate = await admin.post(
        "/v1/users",
        json={"email": "CAROL@example.com ", "name": "C", "role": "member", "password": PASSWORD},
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "email_taken"

    dave = await identity.add_user(admin, "dave@example.com", PASSWORD)
    clash = await admin.patch(f"/v1/users/{dave['id']}", json={"email": "Carol@Example.com"})
    assert clash.status_code == 409
    assert clash.json()["code"] == "email_taken"

    # Another org may have a user with the same email.
    await identity.create_org("other", "carol@example.com", "another long password")
    other = await identity.login("carol@example.com", "another long password")
    assert (await other.get("/v1/me")).json()["org_name"] == "other"
    ours = await identity.login("carol@example.com", PASSWORD)
    assert (await ours.get("/v1/me")).json()["org_name"] == "default"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "no-at-sign", "name": "X", "role": "member", "password": PASSWORD}, "email"),
        ({"email": "x@example.com", "name": "  ", "role": "member", "password": PASSWORD}, "name"),
        ({"email": "x@example.com", "name": "X", "role": "owner", "password": PASSWORD}, "role"),
        (
            {"email": "x@example.com", "name": "X", "role": "member", "password": "short"},
            "password",
        ),
    ],
)
async def test_invalid_users_are_refused_with_a_validation_problem(
    identity: Identity, body: dict[str, str], field: str
) -> None:
    admin = await identity.login()
    response = await admin.post("/v1/users", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert any(field in err["loc"] for err in problem["errors"])
    assert len((await admin.get("/v1/users")).json()["items"]) == 1


async def test_members_cannot_use_the_users_api(identity: Identity) -> None:
    admin = await identity.login()
    member = await identity.add_user(admin, "member@example.com", PASSWORD)
    client = await identity.login("member@example.com", PASSWORD)
    for method, path, body in [
        ("GET", "/v1/users", None),
        (
            "POST",
            "/v1/users",
            {"email": "new@example.com", "name": "N", "role": "admin", "password": PASSWORD},
        ),
        ("PATCH", f"/v1/users/{member['id']}", {"role": "admin"}),
    ]:
        response = await client.request(method, path, json=body)
        assert response.status_code == 403, (method, path)
        assert response.json()["code"] == "forbidden"
    assert (await client.get("/v1/me")).json()["role"] == "member"


async def test_the_last_active_admin_cannot_be_demoted_or_deactivated(identity: Identity) -> None:
    admin = await identity.login()
    me = (await admin.get("/v1/me")).json()
    for change in ({"role": "member"}, {"active": False}):
        response = await admin.patch(f"/v1/users/{me['id']}", json=change)
        assert response.status_code == 409
        assert response.json()["code"] == "last_admin"

    second = await identity.add_user(admin, "second@example.com", PASSWORD, role="admin")
    demoted = await admin.patch(f"/v1/users/{me['id']}", json={"role": "member"})
    assert demoted.status_code == 200
    # The role is read from the database on every request: the demotion applies at once.
    assert (await admin.get("/v1/users")).status_code == 403

    other_admin = await identity.login("second@example.com", PASSWORD)
    refused = await other_admin.patch(f"/v1/users/{second['id']}", json={"active": False})
    assert refused.status_code == 409


async def test_another_orgs_user_is_not_found(identity: Identity) -> None:
    admin = await identity.login()
    other = await identity.create_org("acme", "root@acme.example", "acme admin password")
    response = await admin.patch(f"/v1/users/{other.admin.id}", json={"name": "pwned"})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert (await admin.patch("/v1/users/not-a-uuid", json={"name": "x"})).status_code == 404
    acme = await identity.login("root@acme.example", "acme admin password")
    assert [u["name"] for u in (await acme.get("/v1/users")).json()["items"]] == ["Administrator"]
