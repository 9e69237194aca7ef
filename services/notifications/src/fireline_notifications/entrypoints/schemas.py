"""The endpoints API's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fireline_notifications.domain.addresses import MAX_URL_LENGTH
from fireline_notifications.domain.delivery import Attempt, Outcome, webhook_id
from fireline_notifications.domain.endpoint import (
    MAX_DESCRIPTION,
    MAX_EVENT_TYPES,
    DisabledReason,
    Endpoint,
    Format,
)
from fireline_notifications.service_layer.deliveries import AttemptPage
from fireline_runtime.input_text import RequestModel

Url = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_URL_LENGTH)
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_DESCRIPTION)]
EventType = Annotated[str, StringConstraints(min_length=1, max_length=100)]

_URL = (
    "Where deliveries are POSTed: https (plain http only for hosts the operator allow-lists); "
    "private, loopback, link-local and metadata addresses are refused unless allow-listed."
)
_EVENT_TYPES = "Event types to deliver (`incident.started`, …); empty: every type."


class NewEndpoint(RequestModel):
    model_config = ConfigDict(extra="forbid")

    url: Url = Field(description=_URL)
    description: Description = ""
    event_types: list[EventType] = Field(
        default_factory=list, max_length=MAX_EVENT_TYPES, description=_EVENT_TYPES
    )
    format: Format = Field(
        default="standard",
        description="`standard`: Standard Webhooks (signed JSON); `slack`: a Block Kit message "
        "for a Slack incoming-webhook URL.",
    )


class EndpointChanges(RequestModel):
    model_config = ConfigDict(extra="forbid")

    url: Url | None = Field(default=None, description=_URL)
    description: Description | None = None
    event_types: list[EventType] | None = Field(
        default=None, max_length=MAX_EVENT_TYPES, description=_EVENT_TYPES
    )
    enabled: bool | None = Field(
        default=None,
        description="false pauses deliveries; true resumes them (and forgets "
        "the failures that disabled it).",
    )


class EndpointOut(BaseModel):
    id: UUID
    url: str
    description: str
    event_types: list[str]
    format: Format
    enabled: bool
    disabled_reason: DisabledReason | None = Field(
        description="`gone` (it answered 410), `failing` (failed for days) or `admin`."
    )
    disabled_at: datetime | None
    failing_since: datetime | None = Field(
        description="First failure of the current run of failures; null after a success."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointOut:
        return cls.model_validate(endpoint, from_attributes=True)


class NewEndpointOut(EndpointOut):
    secret: str = Field(description="The signing secret (`whsec_…`); shown in this answer only.")


class EndpointList(BaseModel):
    items: list[EndpointOut]


class RotatedSecretOut(BaseModel):
    secret: str = Field(description="The new signing secret; shown in this answer only.")
    previous_secrets_valid_until: datetime = Field(
        description="Until then the replaced secrets sign too (several signatures per header)."
    )


class QueuedDeliveryOut(BaseModel):
    delivery_id: UUID
    webhook_id: str = Field(description="The `webhook-id` header every attempt carries.")


class AttemptOut(BaseModel):
    id: UUID
    delivery_id: UUID
    webhook_id: str
    event_type: str
    attempted_at: datetime
    status_code: int | None = Field(description="null: no answer (refused, timeout, network).")
    latency_ms: float
    error: str | None
    response_body: str | None = Field(description="The start of the answer (truncated).")
    outcome: Outcome
    next_retry_at: datetime | None

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptOut:
        return cls(
            id=attempt.id,
            delivery_id=attempt.delivery_id,
            webhook_id=webhook_id(attempt.delivery_id),
            event_type=attempt.event_type,
            attempted_at=attempt.attempted_at,
            status_code=attempt.status_code,
            latency_ms=attempt.latency_ms,
            error=attempt.error,
            response_body=attempt.response_body,
            outcome=attempt.outcome,
            next_retry_at=attempt.next_retry_at,
        )


class AttemptList(BaseModel):
    items: list[AttemptOut] = Field(description="Attempts, newest first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )

    @classmethod
    def of(cls, page: AttemptPage) -> AttemptList:
        return cls(items=[AttemptOut.of(a) for a in page.items], next_cursor=page.next_cursor)
