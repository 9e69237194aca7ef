"""The envelope every Fireline event shares, and the base for the models inside it."""

from __future__ import annotations

import json
from abc import abstractmethod
from datetime import UTC, datetime
from typing import Annotated, Any, Self, TypeVar
from uuid import UUID, uuid4

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
)
from pydantic._internal._model_construction import ModelMetaclass
from pydantic.config import ExtraValues

from fireline_contracts.text import (
    json_may_hold_unstorable,
    json_text,
    normalise_arguments,
    normalise_strings,
)

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


class _NormalisingConstruction(ModelMetaclass):
    """Normalises a contract model's constructor arguments before pydantic validates them."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return super().__call__(*args, **normalise_arguments(kwargs))


class ContractModel(BaseModel, metaclass=_NormalisingConstruction):
    """Base for every model that travels on Kafka.

    Frozen, so a consumer cannot alter an event it was handed and hashable so events can sit in
    sets. Unknown fields are refused so a producer's typo fails at construction instead of being
    silently dropped; the flip side is that consumers must be upgraded before producers start
    setting a newly added field (see the README's evolution rules).

    NUL and lone surrogates cannot be stored or serialised (``fireline_contracts.text``): an
    event built from them would fail in its producer's outbox or its consumer's database and be
    retried until dead-lettered. So what a model is built from is normalised first, deeply
    (nested models too): its constructor's arguments (the metaclass), ``model_validate``'s dicts
    and lists, and a ``model_validate_json`` document that could decode to either character. A
    ``TypeAdapter`` over contract models skips this; ``parse_event``, which uses one, checks the
    bytes itself first. What skips validation altogether (``model_copy(update=...)``,
    ``model_construct``), reads attributes (``from_attributes``) or is validated from strings
    (``model_validate_strings``, used nowhere) is taken as it is: the first three copy values
    from models or stored rows, which hold no such characters.

    Not a ``mode="before"`` model validator, which did the same: its mere presence makes pydantic
    turn a JSON document into Python objects before validating them, and that was two fifths of
    what parsing an event cost every consumer (about 3 of 8 microseconds for an
    ``IncidentStarted``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        extra: ExtraValues | None = None,
        from_attributes: bool | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        if not _text_checked(context):
            obj = normalise_strings(obj)
        return super().model_validate(
            obj,
            strict=strict,
            extra=extra,
            from_attributes=from_attributes,
            context=context,
            by_alias=by_alias,
            by_name=by_name,
        )

    @classmethod
    def model_validate_json(
        cls,
        json_data: str | bytes | bytearray,
        *,
        strict: bool | None = None,
        extra: ExtraValues | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        if not _text_checked(context) and json_may_hold_unstorable(json_data):
            json_data = _normalised_json(json_data)
        return super().model_validate_json(
            json_data,
            strict=strict,
            extra=extra,
            context=context,
            by_alias=by_alias,
            by_name=by_name,
        )


def _normalised_json(document: str | bytes | bytearray) -> str | bytes | bytearray:
    """``document`` decoded (``json_text``), normalised and encoded again, so that pydantic still
    validates JSON (its strict mode and its errors are JSON's). A document that does not decode
    is returned as it came, for pydantic's own error."""
    try:
        return json.dumps(normalise_strings(json.loads(json_text(document))))
    except (ValueError, RecursionError):
        return document


def _text_checked(context: Any) -> bool:
    """Whether the caller saw that the data cannot hold unstorable text (``parse_event`` does)."""
    return isinstance(context, dict) and bool(context.get(TEXT_CHECKED))


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
