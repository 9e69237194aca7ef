"""Which assertions of the web UI's backend buy a person a token, and with which scopes."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest

from fireline_auth.domain.errors import InvalidGrant
from fireline_auth.domain.people import UiClient, verify_assertion
from fireline_contracts.scopes import ALL_SCOPES

SECRET = b"s" * 32
CLIENT = UiClient("fireline-ui", SECRET)
ISSUER = "http://auth.test"
USER, ORG, SESSION = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def assertion(*, key: bytes = SECRET, algorithm: str = "HS256", **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "fireline-ui",
        "aud": ISSUER,
        "sub": str(USER),
        "org_id": str(ORG),
        "sid": str(SESSION),
        "role": "admin",
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=algorithm)


def test_an_admins_assertion_names_the_person_session_and_every_scope() -> None:
    person = verify_assertion(assertion(), client=CLIENT, audience=ISSUER)

    assert (person.user_id, person.org_id, person.session_id) == (USER, ORG, SESSION)
    assert person.scopes == ALL_SCOPES


def test_a_member_may_work_on_incidents_only() -> None:
    person = verify_assertion(assertion(role="member"), client=CLIENT, audience=ISSUER)

    assert person.scopes == ("incidents:read", "incidents:write")


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(assertion(key=b"x" * 32), id="another secret"),
        pytest.param(assertion(aud="http://elsewhere.test"), id="another audience"),
        pytest.param(assertion(iss="someone-else"), id="another client"),
        pytest.param(
            assertion(iat=int(time.time()) - 600, exp=int(time.time()) - 540), id="expired"
        ),
        pytest.param(assertion(exp=int(time.time()) + 3600), id="lives too long"),
        pytest.param(assertion(role="owner"), id="unknown role"),
        pytest.param(assertion(sid=None), id="no session"),
        pytest.param(assertion(sub="not-a-uuid"), id="subject not a user id"),
        pytest.param(assertion(jti=None), id="no jti"),
        pytest.param(
            jwt.encode({"iss": "fireline-ui", "sub": str(USER)}, "", algorithm="none"),
            id="unsigned",
        ),
        pytest.param("", id="missing"),
    ],
)
def test_anything_else_is_an_invalid_grant(bad: str) -> None:
    with pytest.raises(InvalidGrant) as caught:
        verify_assertion(bad, client=CLIENT, audience=ISSUER)

    assert caught.value.error == "invalid_grant"
    assert bad == "" or bad not in caught.value.description
