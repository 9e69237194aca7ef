"""Kafka consumers of identity: KeyUsed from auth feeds each key's last_used_at, and the audit
store turns security-relevant events of every service into audit entries.

The runtime runs each handler inside its inbox transaction, so the use case's write commits
together with the inbox claim (``UnitOfWorkFactory.on``).
"""

from __future__ import annotations

from fireline_contracts import KEY_USAGE, EventEnvelope, KeyUsed, TopicSpec
from fireline_identity.service_layer import audit, keys
from fireline_identity.service_layer.audit_entries import AUDITED_TOPICS, may_audit
from fireline_identity.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.consumers import EventHandler, Treatment
from fireline_runtime.db import Connection
from fireline_runtime.unit_of_work import UnitOfWorkFactory


def key_usage_consumer(uow: UnitOfWorkFactory[UnitOfWork]) -> EventHandler:
    """Moves an API key's last_used_at forward when auth exchanged it for a token."""

    async def handle(conn: Connection, event: EventEnvelope) -> None:
        if isinstance(event, KeyUsed):
            await keys.record_key_use(
                uow=uow.on(conn),
                org_id=event.org_id,
                key_id=event.payload.key_id,
                used_at=event.payload.used_at,
                previous_secret=bool(event.payload.previous_secret),
            )

    return EventHandler(
        name="identity.key-usage",
        topic=KEY_USAGE,
        handle=handle,
        description="Moves an API key's last_used_at forward when auth exchanged it for a token.",
    )


def audit_consumers(uow: UnitOfWorkFactory[UnitOfWork]) -> list[EventHandler]:
    """One handler per audited topic (the runtime allows one per topic and service)."""
    return [_audit_consumer(uow, spec) for spec in AUDITED_TOPICS]


def _audit_consumer(uow: UnitOfWorkFactory[UnitOfWork], spec: TopicSpec) -> EventHandler:
    async def handle(conn: Connection, event: EventEnvelope) -> None:
        await audit.record(uow=uow.on(conn), event=event)

    def triage(event: EventEnvelope) -> Treatment:
        # Most of what these topics carry (the keys topic's watermarks, once a second per
        # partition) is not audited: acknowledged without a transaction or an inbox row.
        return "once" if may_audit(event) else "ignore"

    return EventHandler(
        name=f"identity.audit.{spec.name.split('.')[-2]}",
        topic=spec,
        handle=handle,
        triage=triage,
        description="Appends the org's audit entry for each security-relevant event.",
    )
