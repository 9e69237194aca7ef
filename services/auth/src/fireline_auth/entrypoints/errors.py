"""The one place auth's domain errors become HTTP: RFC 6749 §5.2 JSON bodies, not problem+json."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fireline_auth.domain.errors import (
    AuthError,
    ClientAuthMethod,
    InvalidClient,
    InvalidRequest,
    InvalidScope,
    RateLimited,
    SigningUnavailable,
    UnsupportedGrantType,
)
from fireline_runtime.observability import record_outcome

REALM = "fireline"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_SIGNING_RETRY_AFTER_S = 5

_STATUS: dict[type[AuthError], int] = {
    InvalidRequest: 400,
    InvalidClient: 401,
    UnsupportedGrantType: 400,
    InvalidScope: 400,
    RateLimited: 429,
    SigningUnavailable: 503,
}

# RFC 6749 §5.2: a client that used the Authorization header gets a 401 with a challenge for the
# scheme it used. Form-field authentication gets none (the request named no HTTP scheme); a request
# with no credentials at all is told that Basic works.
_CHALLENGES = {
    ClientAuthMethod.BASIC: f'Basic realm="{REALM}"',
    ClientAuthMethod.NONE: f'Basic realm="{REALM}"',
    ClientAuthMethod.BARE_KEY: f'Bearer realm="{REALM}"',
}


def error_response(exc: AuthError) -> JSONResponse:
    headers = dict(NO_STORE)
    if isinstance(exc, InvalidClient) and (challenge := _CHALLENGES.get(exc.method)):
        headers["WWW-Authenticate"] = challenge
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, SigningUnavailable):
        headers["Retry-After"] = str(_SIGNING_RETRY_AFTER_S)
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description},
        status_code=_STATUS.get(type(exc), 400),
        headers=headers,
    )


def install_error_handler(app: FastAPI) -> None:
    async def on_auth_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AuthError)
        record_outcome(request, exc.error)
        return error_response(exc)

    app.add_exception_handler(AuthError, on_auth_error)
