"""The one mapping from identity's domain errors to problem details."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fireline_identity.domain.errors import (
    EmailTaken,
    IdentityError,
    IncidentsNotConfigured,
    InvalidCredentials,
    InvalidInput,
    KeyAlreadyRevoked,
    KeyExpired,
    KeyLimitReached,
    LastAdmin,
    NotFound,
    OrgNameTaken,
    PermissionDenied,
    ReportInvalid,
    ReportRefused,
    ReportTooLarge,
    ScanningNotConfigured,
    TooManyAttempts,
    Unauthenticated,
    UpstreamUnavailable,
)
from fireline_runtime.problems import ErrorMap


def _field_error(exc: InvalidInput) -> Mapping[str, Any]:
    # The same shape as a request-validation error, so a form can show it beside its field.
    return {"errors": [{"loc": ["body", exc.field], "msg": exc.message, "type": "value_error"}]}


ERRORS = (
    ErrorMap(IdentityError)
    .add(IdentityError, 400, "bad_request", "Bad request")
    .add(
        InvalidInput,
        422,
        "validation_error",
        "Request is not valid",
        detail=lambda exc: f"{exc.field}: {exc.message}",
        extra=_field_error,
    )
    # One message for unknown email, wrong password and inactive user alike.
    .add(
        InvalidCredentials,
        401,
        "invalid_credentials",
        "Invalid credentials",
        detail="Email or password is incorrect.",
    )
    .add(Unauthenticated, 401, "unauthenticated", "Authentication required")
    .add(PermissionDenied, 403, "forbidden", "Forbidden")
    .add(NotFound, 404, "not_found", "Not found")
    .add(KeyLimitReached, 409, "key_limit_reached", "Key limit reached")
    .add(KeyAlreadyRevoked, 409, "key_revoked", "Key is revoked")
    .add(KeyExpired, 409, "key_expired", "Key has expired")
    .add(ReportRefused, 401, "invalid_signature", "Report signature not valid")
    .add(ReportInvalid, 400, "invalid_report", "Report not in the secret-scanning format")
    .add(ReportTooLarge, 413, "report_too_large", "Report too large")
    # A 4xx like any unverifiable report: the scanner cannot fix it, but nothing here is broken
    # either; the code tells the operator what to set.
    .add(
        ScanningNotConfigured,
        401,
        "secret_scanning_not_configured",
        "Secret scanning not configured",
    )
    .add(IncidentsNotConfigured, 404, "incidents_not_configured", "Incident pages not configured")
    .add(
        UpstreamUnavailable,
        503,
        "upstream_unavailable",
        "Service unavailable",
        headers=lambda _: {"Retry-After": "5"},
    )
    .add(EmailTaken, 409, "email_taken", "Email already in use")
    .add(OrgNameTaken, 409, "org_name_taken", "Org name already in use")
    .add(LastAdmin, 409, "last_admin", "Last admin")
    .add(
        TooManyAttempts,
        429,
        "too_many_attempts",
        "Too many attempts",
        detail="Too many failed login attempts; try again later.",
        headers=lambda exc: {"Retry-After": str(exc.retry_after_s)},
        extra=lambda exc: {"retry_after": exc.retry_after_s},
    )
)
