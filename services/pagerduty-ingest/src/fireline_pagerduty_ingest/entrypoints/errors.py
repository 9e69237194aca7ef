"""The one mapping from the ingest domain's errors to problem details.

PagerDuty retries 5xx and 429 and drops other 4xx, so the status of each webhook error is chosen
with that in mind (services/pagerduty-ingest/README.md, "Receiver").
"""

from __future__ import annotations

from collections.abc import Mapping

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
from fireline_runtime.problems import ErrorMap

_RETRY_AFTER_S = "5"


def _retry_soon(_: Exception) -> Mapping[str, str]:
    return {"Retry-After": _RETRY_AFTER_S}


ERRORS = (
    ErrorMap(IngestError, MalformedDelivery)
    .add(IngestError, 400, "bad_request", "Bad request", detail="Request could not be processed.")
    .add(IntegrationNotFound, 404, "integration_not_found", "Not found")
    .add(InvalidIntegration, 422, lambda exc: exc.code, "Integration not valid")
    .add(BodyTooLarge, 413, "payload_too_large", "Body too large")
    .add(InvalidSignature, 401, "invalid_signature", "Invalid signature")
    .add(
        MalformedDelivery,
        400,
        "malformed_delivery",
        "Malformed delivery",
        detail=lambda exc: f"Not a PagerDuty V3 webhook delivery: {exc}",
    )
    .add(InvalidWebhookQuery, 400, "invalid_query", "Invalid query")
    .add(
        StorageUnavailable,
        503,
        "storage_unavailable",
        "Service unavailable",
        headers=_retry_soon,
    )
    .add(
        VerificationUnavailable,
        503,
        "verification_unavailable",
        "Service unavailable",
        headers=_retry_soon,
    )
)
