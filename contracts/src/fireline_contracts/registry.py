"""Turning bytes from Kafka back into typed events, upcasting old schema versions on the way."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError

from fireline_contracts.envelope import TEXT_CHECKED, EventEnvelope
from fireline_contracts.text import json_may_hold_unstorable, json_text
from fireline_contracts.topics import ALL_TOPICS, TopicSpec

EVENT_TYPES: dict[str, type[EventEnvelope]] = {
    event.declared_event_type(): event for spec in ALL_TOPICS for event in spec.events
}
"""Every event class by its ``event_type``."""

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}
"""Upcasters by ``(event_type, from_version)``.

When an event type's schema changes incompatibly its class gets the next ``schema_version``, and
an upcaster registered here under ``(event_type, old_version)`` rewrites a decoded event of the old
version into the shape of ``old_version + 1``. ``parse_event`` chains them until the stored event
reaches the class's version, and sets ``schema_version`` after each step itself. Events written
long ago (a compacted topic keeps them forever) therefore stay readable without every consumer
knowing every old shape.
"""

_TOPIC_OF: dict[str, TopicSpec] = {
    event.declared_event_type(): spec for spec in ALL_TOPICS for event in spec.events
}


class ContractError(ValueError):
    """A message does not fit any event contract (so retrying it cannot help)."""


class UnknownEventType(ContractError):
    """The message's ``event_type`` is not a known event, or not one its topic carries."""

    def __init__(self, event_type: object, topic: str | None = None) -> None:
        self.event_type = event_type
        self.topic = topic
        if topic is None:
            message = f"unknown event_type {event_type!r}; known: {', '.join(sorted(EVENT_TYPES))}"
        else:
            message = f"event_type {event_type!r} does not belong on topic {topic}"
        super().__init__(message)


def topic_for_event_type(event_type: str) -> TopicSpec:
    """The topic an event type is published on."""
    try:
        return _TOPIC_OF[event_type]
    except KeyError:
        raise UnknownEventType(event_type) from None


def parse_event(raw: bytes | str, *, spec: TopicSpec | None = None) -> EventEnvelope:
    """Decode a message into its event class, upcasting an older ``schema_version`` first.

    Raises ``ContractError`` (``UnknownEventType`` for a type that is unknown or, given ``spec``,
    not carried by that topic) or pydantic's ``ValidationError``; both are ``ValueError``s.
    """
    if not json_may_hold_unstorable(raw):
        # The common case, every consumed record of every service: a current event whose text
        # needs no normalising, parsed and validated by pydantic straight from the JSON (about
        # half the CPU of json.loads and validating the dict). A TypeAdapter does not normalise
        # (ContractModel), which is why the bytes are checked first. Anything it refuses takes
        # the careful path below, which upcasts old versions and raises the precise error.
        try:
            return _adapter(None if spec is None else spec.name).validate_json(raw)
        except ValidationError:
            pass
    try:
        text = json_text(raw)
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractError(f"message is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ContractError(f"message is not a JSON object but {type(data).__name__}")
    event_type = data.get("event_type")
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise UnknownEventType(event_type)
    if spec is not None and event_type not in spec.event_types:
        raise UnknownEventType(event_type, topic=spec.name)
    event_class = EVENT_TYPES[event_type]
    context = None if json_may_hold_unstorable(text) else _CLEAN
    return event_class.model_validate(_upcast(event_type, data, event_class), context=context)


_CLEAN = {TEXT_CHECKED: True}


def _adapter(topic: str | None) -> TypeAdapter[EventEnvelope]:
    """A validator choosing the event class by ``event_type``: among the topic's events, or all.

    Built from the registry as it is now (a test may stand a future version of a class in), and
    cached per set of classes."""
    names = _TOPIC_EVENT_NAMES[topic] if topic is not None else tuple(EVENT_TYPES)
    # map, not a generator: this runs for every record every service consumes.
    return _adapter_of(tuple(map(EVENT_TYPES.__getitem__, names)))


@cache
def _adapter_of(events: tuple[type[EventEnvelope], ...]) -> TypeAdapter[EventEnvelope]:
    if len(events) == 1:
        return TypeAdapter(events[0])
    union: Any = Annotated[Union[events], Field(discriminator="event_type")]  # noqa: UP007
    return TypeAdapter(union)


_TOPIC_EVENT_NAMES: dict[str, tuple[str, ...]] = {
    spec.name: tuple(event.declared_event_type() for event in spec.events) for spec in ALL_TOPICS
}


def _upcast(
    event_type: str, data: dict[str, Any], event_class: type[EventEnvelope]
) -> dict[str, Any]:
    version = data.get("schema_version")
    current = event_class.declared_schema_version()
    # bool is an int subclass; let validation reject it rather than treat True as version 1.
    if not isinstance(version, int) or isinstance(version, bool) or version == current:
        return data
    if version > current:
        raise ContractError(
            f"{event_type} has schema_version {version}, newer than the {current} this code "
            "understands; upgrade fireline-contracts"
        )
    while version < current:
        upcaster = UPCASTERS.get((event_type, version))
        if upcaster is None:
            raise ContractError(f"no upcaster for {event_type} from schema_version {version}")
        data = {**upcaster(dict(data)), "schema_version": version + 1}
        version += 1
    return data
