"""The envelope every Fireline event shares, and the base for the models inside it."""

from __future__ import annotations

from abc import abstractmethod
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID, uuid4

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from fireline_contracts.text import normalise_strings

_T = TypeVar("_T")

TEXT_CHECKED = "fireline_text_checked"
"""Validation context key: the data is known to hold no unstorable text, so models skip the walk."""


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
"""A timezone-aware instant, normalised to UTC.

Naive datetimes are rejected rather than guessed at: a producer calling ``datetime.utcnow()`` would
otherwise publish a local-looking time that every consumer interprets differently.
"""


def utc_now() -> datetime:
    """The current instant in UTC."""
    return datetime.now(UTC)


class ContractModel(BaseModel):
    """Base for every model that travels on Kafka.

    Frozen, so a consumer cannot alter an event it was handed and hashable so events can sit in
    sets. Unknown fields are refused so a producer's typo fails at construction instead of being
    silently dropped; the flip side is that consumers must be upgraded before producers start
    setting a newly added field (see the README's evolution rules).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any, info: ValidationInfo) -> Any:
        # NUL and lone surrogates cannot be stored or serialised (fireline_contracts.text): an
        # event built from them would fail in its producer's outbox or its consumer's database and
        # be retried until dead-lettered. Normalised here, no event can carry them.
        if info.context is not None and info.context.get(TEXT_CHECKED):
            # parse_event saw that the JSON cannot hold either (registry.py); walking every
            # string again for each nested model was a quarter of a consumer's parsing.
            return data
        return normalise_strings(data)


class EventEnvelope(ContractModel):
    """Metadata every event carries; concrete events add ``payload`` and pin type and version."""

    event_id: UUID = Field(
        default_factory=uuid4,
        description="Unique id of this event; consumers deduplicate redeliveries by it.",
    )
    event_type: str = Field(description="Name of the event, e.g. `KeyCreated`; selects the model.")
    schema_version: int = Field(
        description="Version of this event type's schema; bumped on any incompatible change.",
    )
    occurred_at: UtcDatetime = Field(
        default_factory=utc_now,
        description="When the change the event records happened (UTC).",
    )
    org_id: UUID = Field(description="Organisation the event belongs to.")
    correlation_id: str | None = Field(
        default=None,
        description="Id of the request that caused the event, propagated for tracing.",
    )

    @property
    @abstractmethod
    def kafka_key(self) -> str:
        """Id of the aggregate whose events must stay in order; used as the Kafka message key."""

    def to_bytes(self) -> bytes:
        """The event as UTF-8 JSON, the form it takes on the wire."""
        return self.model_dump_json().encode()

    @classmethod
    def declared_event_type(cls) -> str:
        """The ``event_type`` a concrete event class pins."""
        return cls._pinned("event_type", str)

    @classmethod
    def declared_schema_version(cls) -> int:
        """The ``schema_version`` a concrete event class pins."""
        return cls._pinned("schema_version", int)

    @classmethod
    def _pinned(cls, field: str, kind: type[_T]) -> _T:
        default = cls.model_fields[field].default
        if not isinstance(default, kind):
            raise TypeError(f"{cls.__name__} does not pin {field}; only concrete events do")
        return default
