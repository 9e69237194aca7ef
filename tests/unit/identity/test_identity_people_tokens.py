"""The web UI's backend: the assertion it makes is one auth accepts, tokens are reused until
shortly before they expire, and a refused token is replaced once."""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs

import httpx
import pytest

from fireline_auth.domain.people import UiClient, verify_assertion
from fireline_identity.adapters.people_tokens import PeopleTokens
from fireline_identity.domain.errors import UpstreamUnavailable
from fireline_identity.domain.sessions import SessionUser
from fireline_identity.domain.users import Role
from fireline_identity.service_layer.incidents_proxy import call_incidents
from fireline_identity.service_layer.ports import ApiAnswer, ApiCall, EventStream

SECRET = b"k" * 32
ISSUER = "http://auth.test"
USER = SessionUser(
    session_id=uuid.uuid4(),
    user_id=uuid.uuid4(),
    org_id=uuid.uuid4(),
    org_name="Acme",
    email="ada@example.com",
    name="Ada",
    role=Role.MEMBER,
)


class Auth:
    """Auth's token endpoint, judging assertions with auth's own rule."""

    def __init__(self, status: int = 200, *, judge: bool = True) -> None:
        self.status = status
        self.judge = judge
        """False when the test moves the clock: auth would judge against the real one."""
        self.issued: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if self.judge:
            person = verify_assertion(
                form["assertion"], client=UiClient("fireline-ui", SECRET), audience=ISSUER
            )
            assert person.session_id == USER.session_id
            assert person.name == "Ada"
        token = f"token-{len(self.issued)}"
        self.issued.append(token)
        body = {"access_token": token, "token_type": "Bearer", "expires_in": 900}
        return httpx.Response(self.status, json=body)


class Clock:
    def __init__(self) -> None:
        # The wall clock: auth's rule judges the assertion's times against it.
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def tokens_with(auth: Auth, clock: Clock) -> PeopleTokens:
    client = httpx.AsyncClient(transport=httpx.MockTransport(auth))
    return PeopleTokens(
        client,
        token_url=f"{ISSUER}/oauth/token",
        audience=ISSUER,
        client_id="fireline-ui",
        secret=SECRET,
        clock=clock,
    )


async def test_a_sessions_token_is_reused_until_a_minute_before_it_expires() -> None:
    auth, clock = Auth(judge=False), Clock()
    tokens = tokens_with(auth, clock)

    first = await tokens.token_for(USER)
    clock.now += 900 - 61
    again = await tokens.token_for(USER)
    clock.now += 2
    renewed = await tokens.token_for(USER)

    assert (first, again, renewed) == ("token-0", "token-0", "token-1")


async def test_auth_refusing_is_upstream_unavailable_not_a_token() -> None:
    tokens = tokens_with(Auth(status=400), Clock())

    with pytest.raises(UpstreamUnavailable):
        await tokens.token_for(USER)


class Incidents:
    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.tokens: list[str] = []

    async def call(self, request: ApiCall, token: str) -> ApiAnswer:
        self.tokens.append(token)
        return ApiAnswer(self.statuses.pop(0), b"{}", {})

    async def open_events(self, token: str, last_event_id: str | None) -> EventStream:
        raise NotImplementedError


CALL = ApiCall("GET", "", "", b"", None)


@pytest.mark.parametrize(
    ("statuses", "answered", "tokens_used"),
    [
        ((200,), 200, ["token-0"]),
        ((401, 200), 200, ["token-0", "token-1"]),
        ((401, 401), 401, ["token-0", "token-1"]),
        ((404,), 404, ["token-0"]),
    ],
)
async def test_a_refused_token_is_replaced_once(
    statuses: tuple[int, ...], answered: int, tokens_used: list[str]
) -> None:
    api = Incidents(*statuses)
    tokens = tokens_with(Auth(), Clock())

    answer = await call_incidents(tokens=tokens, api=api, user=USER, request=CALL)

    assert answer.status == answered
    assert api.tokens == tokens_used
