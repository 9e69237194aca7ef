"""The PagerDuty webhook receiver: `POST /webhooks/pagerduty/{integration_id}`.

Authenticated by PagerDuty's HMAC signature, not by a Bearer token. It answers within
milliseconds: the delivery is stored and enrichment happens later in the worker.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic_core import PydanticCustomError

from fireline_pagerduty_ingest.domain.delivery import MAX_BODY_BYTES
from fireline_pagerduty_ingest.domain.errors import BodyTooLarge
from fireline_pagerduty_ingest.domain.signature import SIGNATURE_HEADER
from fireline_pagerduty_ingest.entrypoints.deps import IngestContext
from fireline_pagerduty_ingest.entrypoints.schemas import WebhookReceipt
from fireline_pagerduty_ingest.service_layer.webhooks import IncomingWebhook, receive_webhook
from fireline_runtime import correlation
from fireline_runtime.input_text import UNSTORABLE_TEXT, refuse_unstorable
from fireline_runtime.observability import record_outcome

router = APIRouter(tags=["webhooks"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}

_OVERRIDES: dict[str, dict[str, Any]] = {
    name: {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }
    for name, description in (
        ("incident_type", "Overrides the integration's default incident type."),
        ("severity", "Overrides the integration's default severity."),
    )
}


@router.post(
    "/webhooks/pagerduty/{integration_id}",
    status_code=202,
    response_model=WebhookReceipt,
    summary="Receive a PagerDuty V3 webhook delivery",
    responses={
        200: {"model": WebhookReceipt, "description": "Already received; nothing new happens."},
        400: {
            "description": "Not a V3 delivery, or an unusable query parameter. Also refused: any "
            "PagerDuty id (event, incident, agent, assignee, service, escalation policy) over 255 "
            "characters, JSON nested over 64 levels, an `occurred_at` outside 0001-01-03 to "
            "9999-12-29 UTC.",
            **_PROBLEM,
        },
        401: {"description": "No signature matches an active signing secret.", **_PROBLEM},
        404: {"description": "No such integration.", **_PROBLEM},
        413: {"description": "Body over 256 KB.", **_PROBLEM},
        503: {"description": "Cannot store the delivery now; PagerDuty retries.", **_PROBLEM},
    },
    openapi_extra={"parameters": list(_OVERRIDES.values())},
)
async def receive(integration_id: str, request: Request) -> JSONResponse:
    # The hottest route of all (every PagerDuty event of a storm): it reads its two optional
    # query parameters itself, under the same text rule FastAPI would apply, and takes its
    # context from the app, so FastAPI resolves no dependency and validates no parameter for
    # it. That was a fifth of the receiver's CPU (BENCHMARKS.md, alert storms); the OpenAPI
    # entry declares the parameters as before.
    ingest: IngestContext = request.app.state.ingest
    incident_type, severity = _overrides(request)
    body = await _read_capped(request, MAX_BODY_BYTES)
    receipt = await receive_webhook(
        ingest.receiver,
        IncomingWebhook(
            integration_id=integration_id,
            body=body,
            signature=request.headers.get(SIGNATURE_HEADER),
            webhook_id=request.headers.get("X-Webhook-Id"),
            query_incident_type=incident_type,
            query_severity=severity,
            correlation_id=correlation.get(),
        ),
    )
    answer = WebhookReceipt(
        status="duplicate" if receipt.duplicate else "accepted",
        delivery_id=receipt.delivery_id,
        recorded_as=receipt.status,
    )
    record_outcome(request, answer.status)
    return JSONResponse(answer.model_dump(), status_code=200 if receipt.duplicate else 202)


def _overrides(request: Request) -> tuple[str | None, str | None]:
    """The ``incident_type`` and ``severity`` query parameters (the last of repeated ones, as
    FastAPI takes them); text that cannot be stored is a 400 ``invalid_text``."""
    query = request.query_params
    values = (query.get("incident_type"), query.get("severity"))
    refused = [
        {"type": UNSTORABLE_TEXT, "loc": ("query", name), "msg": msg, "input": value}
        for name, value in zip(_OVERRIDES, values, strict=True)
        if value is not None and (msg := _unstorable(value)) is not None
    ]
    if refused:
        raise RequestValidationError(refused)
    return values


def _unstorable(value: str) -> str | None:
    try:
        refuse_unstorable(value)
    except PydanticCustomError as exc:
        return str(exc)
    return None


async def _read_capped(request: Request, limit: int) -> bytes:
    """The body, read no further than ``limit`` bytes; BodyTooLarge beyond that.

    Content-Length is only a shortcut for refusing early: a chunked body has none and a client
    may lie, so the stream itself is counted too.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise _too_large(limit)
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:
            raise _too_large(limit)
    return bytes(received)


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"The body is larger than {limit // 1024} KB, PagerDuty's maximum delivery size."
    )
