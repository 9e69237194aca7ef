"""Events on ``fireline.pagerduty.sync.v1``: Fireline's own changes sent back to PagerDuty.

Keyed by incident id. pagerduty-ingest publishes one event per attempt at a call to PagerDuty's
REST API (an acknowledgement, a resolution or a note made in Fireline), whatever came of it; the
incidents service puts each on the incident's timeline. Never carries the API token.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from fireline_contracts.envelope import ContractModel, EventEnvelope, UtcDatetime


class PagerDutySyncAttemptedPayload(ContractModel):
    """One call to PagerDuty's REST API made for a change in Fireline, and its outcome."""

    incident_id: UUID = Field(description="Id of the Fireline incident.")
    integration_id: UUID = Field(description="The PagerDuty integration whose token was used.")
    external_id: str = Field(description="The PagerDuty incident id.")
    request_id: UUID = Field(
        description="The sync request; every attempt at the same change carries the same id."
    )
    action: Literal["acknowledge", "resolve", "note", "reopen"] = Field(
        description="What was asked of PagerDuty; `reopen` is never sent (PagerDuty's REST API "
        "cannot reopen an incident) and is reported `refused` at once."
    )
    outcome: Literal["succeeded", "retrying", "rate_limited", "refused", "failed"] = Field(
        description="`succeeded` (2xx); `rate_limited` (429, retried after `Retry-After`); "
        "`retrying` (5xx, timeout or no answer, retried with backoff); `refused` (a 4xx that "
        "will never succeed, e.g. 401, 403, 404: not retried); `failed` (retries exhausted)."
    )
    attempt: int = Field(ge=1, description="Which attempt this was (1 for the first).")
    status_code: int | None = Field(
        default=None, description="PagerDuty's HTTP status; null when no answer came."
    )
    detail: str | None = Field(
        default=None, description="PagerDuty's error message, or why no answer came."
    )
    next_attempt_at: UtcDatetime | None = Field(
        default=None, description="When the next attempt is due; null when none will be made."
    )
    attempted_at: UtcDatetime = Field(description="When the call was made.")


class PagerDutySyncAttempted(EventEnvelope):
    """Fireline called PagerDuty's REST API to mirror a change made in Fireline."""

    event_type: Literal["PagerDutySyncAttempted"] = Field(
        default="PagerDutySyncAttempted", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: PagerDutySyncAttemptedPayload = Field(description="The attempt.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.incident_id)


PagerDutySyncEvent = Annotated[PagerDutySyncAttempted, Field(discriminator="event_type")]
"""Any event on the PagerDuty sync topic."""
