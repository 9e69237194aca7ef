"""Kafka consumers: a contract event in, a command to a use case, nothing else.

The runtime runs each handler inside its inbox transaction, so a redelivered event is skipped
before it gets here, and the use case's writes commit together with the inbox claim.
"""

from __future__ import annotations

from typing import Final

from fireline_contracts import (
    ALERTS,
    USERS,
    AlertAcknowledged,
    AlertResolved,
    AlertTriggered,
    EventEnvelope,
    UserCreated,
    UserDeactivated,
    UserUpdated,
)
from fireline_incidents.domain.commands import ApplyAlert, RecordUser
from fireline_incidents.domain.model import Status
from fireline_incidents.service_layer import services
from fireline_incidents.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.db import Connection
from fireline_runtime.messaging import EventHandler
from fireline_runtime.unit_of_work import UnitOfWorkFactory

_ALERT_STATUS: Final[dict[str, Status]] = {
    AlertTriggered.declared_event_type(): "triggered",
    AlertAcknowledged.declared_event_type(): "acknowledged",
    AlertResolved.declared_event_type(): "resolved",
}


def users_consumer(uow: UnitOfWorkFactory[UnitOfWork]) -> EventHandler:
    """Keeps the users projection that maps alert emails to Fireline users."""

    async def handle(conn: Connection, event: EventEnvelope) -> None:
        if not isinstance(event, UserCreated | UserUpdated | UserDeactivated):
            return
        user = event.payload
        command = RecordUser(
            user_id=user.user_id,
            org_id=event.org_id,
            email=user.email,
            active=user.active and not isinstance(event, UserDeactivated),
            version_at=event.occurred_at,
        )
        await services.record_user(uow=uow.on(conn), command=command)

    return EventHandler(
        name="incidents.users",
        topic=USERS,
        handle=handle,
        description="Keeps the users projection used to resolve incident creators.",
    )


def alerts_consumer(uow: UnitOfWorkFactory[UnitOfWork]) -> EventHandler:
    """Starts and advances incidents from PagerDuty alerts."""

    async def handle(conn: Connection, event: EventEnvelope) -> None:
        if not isinstance(event, AlertTriggered | AlertAcknowledged | AlertResolved):
            return
        alert = event.payload
        command = ApplyAlert(
            org_id=event.org_id,
            status=_ALERT_STATUS[event.event_type],
            source=alert.source,
            external_id=alert.external_id,
            title=alert.title,
            severity=alert.severity,
            incident_type=alert.incident_type,
            creator_email=alert.creator_email,
            oncall_emails=alert.oncall_emails,
            html_url=alert.html_url,
            service_id=alert.service_id,
            service_name=alert.service_name,
            occurred_at=alert.alert_occurred_at,
        )
        await services.apply_alert(uow=uow.on(conn), command=command)

    return EventHandler(
        name="incidents.alerts",
        topic=ALERTS,
        handle=handle,
        description="Starts an incident per alert (idempotently) and follows its lifecycle.",
    )
