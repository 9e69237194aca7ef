"""The one mapping from auth's domain errors to HTTP: RFC 6749 §5.2 bodies, not problem+json.

The rules are the same :class:`ErrorMap` every service uses; only the rendering differs, because
OAuth clients parse ``error`` and ``error_description``.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from fireline_auth.domain.errors import (
    AuthError,
    ClientAuthMethod,
    InvalidClient,
    RateLimited,
    TemporarilyUnavailable,
)
from fireline_runtime.problems import ErrorMap, Problem

REALM = "fireline"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# RFC 6749 §5.2: a client that used the Authorization header gets a 401 with a challenge for the
# scheme it used. Form-field authentication gets none (the request named no HTTP scheme); a request
# with no credentials at all is told that Basic works.
_CHALLENGES = {
    ClientAuthMethod.BASIC: f'Basic realm="{REALM}"',
    ClientAuthMethod.NONE: f'Basic realm="{REALM}"',
    ClientAuthMethod.BARE_KEY: f'Bearer realm="{REALM}"',
}


def _error(exc: AuthError) -> str:
    return exc.error


def _description(exc: AuthError) -> str:
    return exc.description


def _challenge(exc: InvalidClient) -> Mapping[str, str]:
    challenge = _CHALLENGES.get(exc.method)
    return {"WWW-Authenticate": challenge} if challenge else {}


ERRORS = (
    ErrorMap(AuthError)
    .add(AuthError, 400, _error, "Bad request", detail=_description)
    .add(InvalidClient, 401, _error, "Unauthorized", detail=_description, headers=_challenge)
    .add(
        RateLimited,
        429,
        _error,
        "Too many requests",
        detail=_description,
        headers=lambda exc: {"Retry-After": str(exc.retry_after_s)},
    )
    .add(
        TemporarilyUnavailable,
        503,
        _error,
        "Service unavailable",
        detail=_description,
        headers=lambda exc: {"Retry-After": str(exc.retry_after_s)},
    )
)


def oauth_error(problem: Problem, _: Request) -> Response:
    """RFC 6749 §5.2's body; never cached (§5.1 applies the same rule to errors)."""
    return JSONResponse(
        {"error": problem.code, "error_description": problem.detail},
        status_code=problem.status,
        headers={**NO_STORE, **problem.headers},
    )
