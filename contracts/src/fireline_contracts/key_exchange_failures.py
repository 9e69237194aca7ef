"""Events on ``fireline.auth.key-exchange-failures.v1``: failed key exchanges, per key and minute.

Keyed by key id. Auth counts failed client authentications of an existing key (wrong secret,
revoked, expired) in memory and publishes one aggregate per key and minute, so an attacker
hammering a key produces a handful of events, not one per attempt. Each auth replica aggregates
its own attempts: with N replicas a key may get up to N events for one minute. A new topic rather
than a new event on ``fireline.auth.key-usage.v1``: a topic's set of events is part of its
contract (contracts/README.md).
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from fireline_contracts.envelope import ContractModel, EventEnvelope, UtcDatetime

MAX_REPORTED_ADDRESSES = 10


class KeyExchangeFailedPayload(ContractModel):
    """How often a key failed to authenticate within one minute, and from where."""

    key_id: UUID = Field(description="Id of the key the failed attempts named.")
    window_start: UtcDatetime = Field(description="Start of the minute the attempts fell in.")
    window_s: int = Field(default=60, ge=1, description="Length of the window in seconds.")
    attempts: int = Field(ge=1, description="Failed attempts in the window (on one auth replica).")
    addresses: tuple[str, ...] = Field(
        default=(),
        max_length=MAX_REPORTED_ADDRESSES,
        description=f"Client addresses of the attempts, the first {MAX_REPORTED_ADDRESSES} seen.",
    )


class KeyExchangeFailed(EventEnvelope):
    """Attempts to exchange an existing API key for a token failed (never the secrets tried)."""

    event_type: Literal["KeyExchangeFailed"] = Field(
        default="KeyExchangeFailed", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: KeyExchangeFailedPayload = Field(description="The aggregate.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.key_id)


KeyExchangeFailureEvent = KeyExchangeFailed
"""Any event on the key-exchange-failures topic (there is only one kind)."""
