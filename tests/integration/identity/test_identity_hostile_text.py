"""Text identity cannot store (NUL, lone surrogates) is a 400 problem and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from integration.identity.conftest import Identity

pytestmark = pytest.mark.integration


async def _send(client: httpx.AsyncClient, method: str, url: str, body: Any) -> httpx.Response:
    # json.dumps escapes a lone surrogate as \udc00, as a hostile client would send it (httpx's
    # own JSON encoding cannot encode one at all).
    return await client.request(
        method, url, content=json.dumps(body), headers={"Content-Type": "application/json"}
    )


@pytest.mark.parametrize("name", ["nul\u0000key", "surrogate \udc00 key"])
async def test_a_key_name_that_cannot_be_stored_is_a_400(identity: Identity, name: str) -> None:
    admin = await identity.login()

    created = await _send(admin, "POST", "/v1/api-keys", {"name": name})
    kept = await admin.post("/v1/api-keys", json={"name": "kept"})
    renamed = await _send(admin, "PATCH", f"/v1/api-keys/{kept.json()['id']}", {"name": name})

    for refused in (created, renamed):
        assert refused.status_code == 400
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "invalid_text"
    assert [k["name"] for k in (await admin.get("/v1/api-keys")).json()["items"]] == ["kept"]


async def test_a_user_name_that_cannot_be_stored_is_a_400(identity: Identity) -> None:
    admin = await identity.login()
    before = (await admin.get("/v1/users")).json()

    user = {"email": "nul@example.com", "role": "member", "password": "a long enough password"}
    created = await admin.post("/v1/users", json={**user, "name": "nul\u0000name"})
    me = (await admin.get("/v1/me")).json()
    renamed = await admin.patch(f"/v1/users/{me['id']}", json={"name": "x\u0000"})

    assert created.status_code == 400
    assert created.json()["code"] == "invalid_text"
    assert renamed.status_code == 400
    assert (await admin.get("/v1/users")).json() == before


NAME_CONTROLS = [
    "esc\x1b[31mred",
    "two\r\nlines",
    "tab\there",
    "c1\x85next",
    "\u202eevil",
    "a\u2066b",
]


@pytest.mark.parametrize("name", NAME_CONTROLS)
async def test_control_and_bidi_characters_in_names_are_refused(
    identity: Identity, name: str
) -> None:
    admin = await identity.login()
    kept = (await admin.post("/v1/api-keys", json={"name": "kept"})).json()
    me = (await admin.get("/v1/me")).json()
    user = {"email": "ctl@example.com", "role": "member", "password": "a long enough password"}

    answers = [
        await admin.post("/v1/api-keys", json={"name": name}),
        await admin.patch(f"/v1/api-keys/{kept['id']}", json={"name": name}),
        await admin.post("/v1/users", json={**user, "name": name}),
        await admin.patch(f"/v1/users/{me['id']}", json={"name": name}),
    ]

    for refused in answers:
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "control or bidi" in refused.json()["detail"]
    assert [k["name"] for k in (await admin.get("/v1/api-keys")).json()["items"]] == ["kept"]
    assert (await admin.get("/v1/me")).json()["name"] == me["name"]
    emails = [u["email"] for u in (await admin.get("/v1/users")).json()["items"]]
    assert "ctl@example.com" not in emails
