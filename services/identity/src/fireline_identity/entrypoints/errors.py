"""The one place domain errors become problem+json responses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fireline_identity.domain.errors import (
    DomainError,
    EmailTaken,
    InvalidCredentials,
    InvalidInput,
    KeyAlreadyRevoked,
    KeyLimitReached,
    LastAdmin,
    NotFound,
    OrgNameTaken,
    PermissionDenied,
    TooManyAttempts,
    Unauthenticated,
)
from fireline_runtime.problems import Problem, problem_response

# (status, code, title); detail comes from the error unless the error text could help an attacker.
_PROBLEMS: dict[type[DomainError], tuple[int, str, str]] = {
    InvalidInput: (422, "validation_error", "Request is not valid"),
    InvalidCredentials: (401, "invalid_credentials", "Invalid credentials"),
    Unauthenticated: (401, "unauthenticated", "Authentication required"),
    PermissionDenied: (403, "forbidden", "Forbidden"),
    NotFound: (404, "not_found", "Not found"),
    KeyLimitReached: (409, "key_limit_reached", "Key limit reached"),
    KeyAlreadyRevoked: (409, "key_revoked", "Key is revoked"),
    EmailTaken: (409, "email_taken", "Email already in use"),
    OrgNameTaken: (409, "org_name_taken", "Org name already in use"),
    LastAdmin: (409, "last_admin", "Last admin"),
    TooManyAttempts: (429, "too_many_attempts", "Too many attempts"),
}


def to_problem(exc: DomainError) -> Problem:
    status, code, title = next(
        (v for cls, v in _PROBLEMS.items() if isinstance(exc, cls)),
        (400, "bad_request", "Bad request"),
    )
    if isinstance(exc, InvalidCredentials):
        # One message for unknown email, wrong password and inactive user alike.
        return Problem("Email or password is incorrect.", status=status, code=code, title=title)
    if isinstance(exc, InvalidInput):
        error = {"loc": ["body", exc.field], "msg": exc.message, "type": "value_error"}
        return Problem(
            f"{exc.field}: {exc.message}",
            status=status,
            code=code,
            title=title,
            extra={"errors": [error]},
        )
    if isinstance(exc, TooManyAttempts):
        return Problem(
            "Too many failed login attempts; try again later.",
            status=status,
            code=code,
            title=title,
            headers={"Retry-After": str(exc.retry_after_s)},
            extra={"retry_after": exc.retry_after_s},
        )
    return Problem(str(exc) or title, status=status, code=code, title=title)


def install_error_handlers(app: FastAPI) -> None:
    async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        return problem_response(to_problem(exc), request.url.path)

    app.add_exception_handler(DomainError, on_domain_error)
