"""The consumer registry: what one service consumes, declared before its broker connects.

The public registration API, used by every ``bootstrap.py`` (through
``ServiceRuntime.consume``) and by the runtime's own token guard:

* :class:`EventHandler` — a consumer of one topic;
* :meth:`ConsumerRegistry.register` — add one (at most one per topic, before the broker starts);
* :meth:`ConsumerRegistry.require_signature` — accept a topic's records only if its owner signed
  them;
* :attr:`ConsumerRegistry.states` — what each handler did (tests and diagnostics read it).

The registry holds declarations only; ``messaging.consuming`` runs them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from fireline_contracts import EventEnvelope, TopicSpec, topic_name
from fireline_runtime.db import Connection
from fireline_runtime.event_signing import EventVerifier
from fireline_runtime.observability import Metrics

Handle = Callable[[Connection, EventEnvelope], Awaitable[None]]
HandleBatch = Callable[[Connection, Sequence[EventEnvelope]], Awaitable[None]]
AfterCommit = Callable[[EventEnvelope], None]
Treatment = Literal["once", "idempotent", "ignore"]
Triage = Callable[[EventEnvelope], Treatment]


@dataclass(frozen=True)
class EventHandler:
    """A consumer of one topic: ``handle`` runs inside the inbox transaction."""

    name: str
    topic: TopicSpec
    handle: Handle
    after_commit: AfterCommit | None = None
    description: str = ""
    handle_batch: HandleBatch | None = None
    """Applies a fetch's fresh events of its topic together (each partition's in order),
    set-based, in the batch's transaction; it must leave the same state as ``handle`` called on
    each in order. Without it, ``handle`` runs once per event inside that one transaction."""
    triage: Triage | None = None
    """How each event is taken; every one ``once`` without it.

    ``once``: claimed in the inbox with the handler's writes, so a redelivery is skipped.
    ``idempotent``: handed over without an inbox row; the handler's own writes must make a
    second application change nothing (``ON CONFLICT DO NOTHING`` on a natural key), and it
    must publish nothing. ``ignore``: acknowledged with no transaction, no inbox row and no
    call, and no ``after_commit``. An inbox row is a write, a WAL record and a row kept for
    ever (the inbox is never pruned), all to make a second application a no-op; an event the
    handler ignores, or applies idempotently anyway, gains nothing from it."""


@dataclass
class ConsumerState:
    """What /readyz and tests want to know about a running consumer."""

    processed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    ignored: int = 0


class ConsumerRegistry:
    """The handlers, the topics to create and the signatures required, of one service."""

    def __init__(
        self, *, service: str, topic_prefix: str, metrics: Metrics, topics: Sequence[TopicSpec]
    ) -> None:
        self.service = service
        self.prefix = topic_prefix
        self._metrics = metrics
        self.topics: list[TopicSpec] = list(topics)
        """Every topic the service makes sure exists: those it produces, then those it consumes."""
        self.handlers: list[EventHandler] = []
        self.states: dict[str, ConsumerState] = {}
        self.by_topic: dict[str, EventHandler] = {}
        """The handler of each consumed topic, by its prefixed name (as records carry it)."""
        self.verifiers: dict[str, EventVerifier] = {}
        """The verifier of each topic whose records must be signed, by the topic spec's name."""
        self._closed = False

    def register(self, handler: EventHandler) -> None:
        """Consume ``handler.topic`` with ``handler``; all of a service's handlers share one
        consumer (``messaging.consuming``), so this must happen before the broker starts."""
        if self._closed:
            raise RuntimeError("handlers must be registered before the broker starts")
        topic = topic_name(handler.topic, self.prefix)
        if topic in self.by_topic:
            raise ValueError(f"{topic} already has a handler in {self.service}")
        if handler.topic not in self.topics:
            self.topics.append(handler.topic)
        self.by_topic[topic] = handler
        self.states.setdefault(handler.name, ConsumerState())
        self.handlers.append(handler)
        # Exported at 0 from the start: an alert on a counter's increase needs the 0 before it.
        self._metrics.dead_lettered.labels(handler.name)

    def require_signature(self, spec: TopicSpec, verifier: EventVerifier) -> None:
        """Accept a record of ``spec`` only if its owner signed it (``event_signing``); any other
        is dead-lettered unapplied, as a record that does not parse is."""
        self.verifiers[spec.name] = verifier

    def close(self) -> None:
        """No registration after this: the consumer is being built from what is here."""
        self._closed = True
