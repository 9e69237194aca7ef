"""The one place domain errors become problem+json responses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fireline_pagerduty_ingest.domain.errors import (
    BodyTooLarge,
    IngestError,
    IntegrationNotFound,
    InvalidIntegration,
    InvalidSignature,
    InvalidWebhookQuery,
    StorageUnavailable,
    VerificationUnavailable,
)
from fireline_pagerduty_ingest.domain.webhook import MalformedDelivery
from fireline_runtime.observability import record_outcome
from fireline_runtime.problems import Problem, problem_response

# PagerDuty retries 5xx and 429 and drops other 4xx, so the status of each webhook error is
# chosen with that in mind (services/pagerduty-ingest/README.md, "Receiver").
_RETRY_AFTER_S = "5"


def to_problem(exc: Exception) -> Problem:
    """The problem a domain error is answered with."""
    if isinstance(exc, IntegrationNotFound):
        return Problem(str(exc), status=404, code="integration_not_found", title="Not found")
    if isinstance(exc, InvalidIntegration):
        return Problem(str(exc), status=422, code=exc.code, title="Integration not valid")
    if isinstance(exc, BodyTooLarge):
        return Problem(str(exc), status=413, code="payload_too_large", title="Body too large")
    if isinstance(exc, InvalidSignature):
        return Problem(str(exc), status=401, code="invalid_signature", title="Invalid signature")
    if isinstance(exc, MalformedDelivery):
        return Problem(
            f"Not a PagerDuty V3 webhook delivery: {exc}",
            status=400,
            code="malformed_delivery",
            title="Malformed delivery",
        )
    if isinstance(exc, InvalidWebhookQuery):
        return Problem(str(exc), status=400, code="invalid_query", title="Invalid query")
    if isinstance(exc, StorageUnavailable | VerificationUnavailable):
        return Problem(
            str(exc),
            status=503,
            code="storage_unavailable"
            if isinstance(exc, StorageUnavailable)
            else "verification_unavailable",
            title="Service unavailable",
            headers={"Retry-After": _RETRY_AFTER_S},
        )
    return Problem("Request could not be processed.", status=400, code="bad_request")


def install_error_handlers(app: FastAPI) -> None:
    """Register the domain-error handler on ``app``."""

    async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
        problem = to_problem(exc)
        record_outcome(request, problem.code)
        return problem_response(problem, request.url.path)

    app.add_exception_handler(IngestError, on_domain_error)
    app.add_exception_handler(MalformedDelivery, on_domain_error)
