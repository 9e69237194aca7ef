"""The PagerDuty webhook receiver: `POST /webhooks/pagerduty/{integration_id}`.

Authenticated by PagerDuty's HMAC signature, not by a Bearer token. It answers within
milliseconds: the delivery is stored and enrichment happens later in the worker.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from fireline_pagerduty_ingest.domain.delivery import MAX_BODY_BYTES
from fireline_pagerduty_ingest.domain.errors import BodyTooLarge
from fireline_pagerduty_ingest.domain.signature import SIGNATURE_HEADER
from fireline_pagerduty_ingest.entrypoints.deps import Ingest
from fireline_pagerduty_ingest.entrypoints.schemas import WebhookReceipt
from fireline_pagerduty_ingest.service_layer.webhooks import IncomingWebhook, receive_webhook
from fireline_runtime import correlation
from fireline_runtime.input_text import InputText
from fireline_runtime.observability import record_outcome

router = APIRouter(tags=["webhooks"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


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
)
async def receive(
    integration_id: str,
    request: Request,
    ingest: Ingest,
    incident_type: Annotated[
        InputText | None,
        Query(description="Overrides the integration's default incident type."),
    ] = None,
    severity: Annotated[
        InputText | None, Query(description="Overrides the integration's default severity.")
    ] = None,
) -> JSONResponse:
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
