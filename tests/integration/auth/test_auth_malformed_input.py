"""Malformed input at auth's OAuth endpoints: refused in RFC 6749 / RFC 7662 shape, never a 500."""

from __future__ import annotations

import pytest

from integration.auth.auth_harness import AuthHarness, Key, basic
from support.jose_spellings import respellings

pytestmark = pytest.mark.integration

# What a client sending UTF-8 in a header puts on the wire; Starlette reads it as Latin-1 text.
NON_ASCII_BASIC = {b"Authorization": b"Basic \xc3\xa9"}


async def _token(auth: AuthHarness, key: Key) -> str:
    response = await auth.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(key.client_id, key.secret),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def test_introspection_finds_every_other_spelling_of_a_token_inactive(
    auth: AuthHarness,
) -> None:
    subject = await auth.create_key()
    caller = await auth.create_key(org_id=subject.org_id)
    token = await _token(auth, subject)

    async def active(candidate: str) -> object:
        response = await auth.client.post(
            "/oauth/introspect",
            data={"token": candidate},
            headers=basic(caller.client_id, caller.secret),
        )
        assert response.status_code == 200, response.text
        return response.json()["active"]

    assert await active(token) is True
    spellings = respellings(token)
    assert {"non-zero unused bits", "padding"} <= spellings.keys()
    for reason, spelled in spellings.items():
        assert await active(spelled) is False, reason


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/introspect"])
async def test_a_non_ascii_basic_header_is_invalid_client(auth: AuthHarness, path: str) -> None:
    response = await auth.client.post(
        path, data={"grant_type": "client_credentials", "token": "x"}, headers=NON_ASCII_BASIC
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
