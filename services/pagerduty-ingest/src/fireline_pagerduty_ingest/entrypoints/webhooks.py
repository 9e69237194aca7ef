"""The PagerDuty webhook receiver: `POST /webhooks/pagerduty/{integration_id}`.

Authenticated by PagerDuty's HMAC signature, not by a Bearer token. It answers within
milliseconds: the delivery is stored and enrichment happens later in the worker.

The hottest route of all (every PagerDuty event of a storm) is a plain ASGI callable,
:class:`WebhookEndpoint`, answered ahead of FastAPI's routing (``fireline_runtime.raw_routes``):
FastAPI's routing and request handling cost more CPU than the receiver's own work (BENCHMARKS.md,
alert storms). The ``APIRoute`` below is what the OpenAPI document describes, and what answers
the path's other methods; what its endpoint would answer, the ASGI callable answers.
"""

from __future__ import annotations

from typing import Any, NoReturn

import orjson
from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from pydantic_core import PydanticCustomError
from starlette.datastructures import QueryParams
from starlette.types import Receive, Scope, Send

from fireline_pagerduty_ingest.domain.delivery import MAX_BODY_BYTES
from fireline_pagerduty_ingest.domain.errors import BodyTooLarge
from fireline_pagerduty_ingest.domain.signature import SIGNATURE_HEADER
from fireline_pagerduty_ingest.entrypoints.schemas import WebhookReceipt
from fireline_pagerduty_ingest.metrics import WEBHOOK_ROUTE
from fireline_pagerduty_ingest.service_layer.webhooks import (
    IncomingWebhook,
    WebhookReceiver,
    receive_webhook,
)
from fireline_runtime import correlation
from fireline_runtime.http_body import collect_at_most
from fireline_runtime.input_text import UNSTORABLE_TEXT, refuse_unstorable
from fireline_runtime.observability import record_scope_outcome
from fireline_runtime.raw_routes import (
    RawEndpoint,
    body_chunks,
    declared_route,
    header,
    send_json,
)

router = APIRouter(tags=["webhooks"])

_SIGNATURE = SIGNATURE_HEADER.lower().encode()

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
    WEBHOOK_ROUTE,
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
async def receive(integration_id: str) -> NoReturn:
    """Declared for the document only: :class:`WebhookEndpoint` answers this route before the
    router runs (``bootstrap.py`` installs it), so this is never called."""
    raise RuntimeError("POST /webhooks/pagerduty/{integration_id} is WebhookEndpoint's")


class WebhookEndpoint:
    """The receiver as a plain ASGI callable, answering what the declared route documents.

    It reads its path parameter, two optional query parameters and three headers itself, under
    the rules FastAPI would apply; what it raises (the use case's errors, a query parameter's
    unstorable text) is answered by the app's exception handlers, as for any route.
    """

    def __init__(self, receiver: WebhookReceiver) -> None:
        self._receiver = receiver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        incident_type, severity = _overrides(scope["query_string"])
        body = await collect_at_most(
            header(scope, b"content-length"), body_chunks(receive), MAX_BODY_BYTES
        )
        if body is None:
            raise BodyTooLarge(
                f"The body is larger than {MAX_BODY_BYTES // 1024} KB, PagerDuty's maximum "
                "delivery size."
            )
        receipt = await receive_webhook(
            self._receiver,
            IncomingWebhook(
                integration_id=scope["path_params"]["integration_id"],
                body=body,
                signature=header(scope, _SIGNATURE),
                webhook_id=header(scope, b"x-webhook-id"),
                query_incident_type=incident_type,
                query_severity=severity,
                correlation_id=correlation.get(),
            ),
        )
        outcome = "duplicate" if receipt.duplicate else "accepted"
        record_scope_outcome(scope, outcome)
        answer = {
            "status": outcome,
            "delivery_id": receipt.delivery_id,
            "recorded_as": receipt.status,
        }
        await send_json(send, 200 if receipt.duplicate else 202, orjson.dumps(answer))


def raw_endpoint(receiver: WebhookReceiver) -> RawEndpoint:
    """The webhook route, answered by :class:`WebhookEndpoint` ahead of routing."""
    return RawEndpoint(
        route=declared_route(router.routes, WEBHOOK_ROUTE), app=WebhookEndpoint(receiver)
    )


def _overrides(query_string: bytes) -> tuple[str | None, str | None]:
    """The ``incident_type`` and ``severity`` query parameters (the last of repeated ones, as
    FastAPI takes them); text that cannot be stored is a 400 ``invalid_text``."""
    if not query_string:
        return None, None
    query = QueryParams(query_string)
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
