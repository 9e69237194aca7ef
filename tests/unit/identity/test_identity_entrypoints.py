"""Domain errors become stable problem codes; the client address honours trusted proxies only."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from starlette.requests import Request

from fireline_identity.domain.errors import (
    EmailTaken,
    IdentityError,
    InvalidCredentials,
    InvalidInput,
    KeyLimitReached,
    LastAdmin,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
    Unauthenticated,
)
from fireline_identity.entrypoints.deps import client_address
from fireline_identity.entrypoints.errors import ERRORS


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidCredentials(), 401, "invalid_credentials"),
        (Unauthenticated("no session"), 401, "unauthenticated"),
        (PermissionDenied("no"), 403, "forbidden"),
        (NotFound("API key"), 404, "not_found"),
        (KeyLimitReached(10), 409, "key_limit_reached"),
        (EmailTaken("taken"), 409, "email_taken"),
        (LastAdmin("last"), 409, "last_admin"),
        (InvalidInput("name", "too long"), 422, "validation_error"),
        (TooManyAttempts(42), 429, "too_many_attempts"),
    ],
)
def test_each_domain_error_has_a_stable_problem(
    error: IdentityError, status: int, code: str
) -> None:
    problem = ERRORS.to_problem(error)
    assert (problem.status, problem.code) == (status, code)


def test_throttled_logins_say_when_to_come_back() -> None:
    problem = ERRORS.to_problem(TooManyAttempts(42))
    assert problem.headers == {"Retry-After": "42"}


def test_validation_problems_name_the_field() -> None:
    body = ERRORS.to_problem(InvalidInput("scopes", "unknown scope")).body()
    assert body["errors"] == [
        {"loc": ["body", "scopes"], "msg": "unknown scope", "type": "value_error"}
    ]


def _request(peer: str, forwarded: str | None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "client": (peer, 1234), "headers": headers})


@pytest.mark.parametrize(
    ("hops", "peer", "forwarded", "expected"),
    [
        (0, "10.0.0.1", "6.6.6.6", "10.0.0.1"),  # nobody trusted: a client cannot spoof it
        (1, "10.0.0.1", "6.6.6.6, 203.0.113.7", "203.0.113.7"),
        (2, "10.0.0.1", "6.6.6.6, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        (1, "10.0.0.1", None, "10.0.0.1"),
    ],
)
async def test_client_address(hops: int, peer: str, forwarded: str | None, expected: str) -> None:
    context = SimpleNamespace(trusted_proxy_hops=hops)
    assert await client_address(_request(peer, forwarded), context) == expected  # type: ignore[arg-type]
