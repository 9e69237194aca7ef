"""Kafka consumers: a contract event in, a command to a use case, nothing else.

The runtime runs each handler inside its inbox transaction, so a redelivered event is skipped
before it gets here, and the use case's writes commit together with the inbox claim.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, cast, get_args

from fireline_contracts import (
    ALERTS,
    PAGERDUTY_SYNC,
    USERS,
    AlertAcknowledged,
    AlertActivity,
    AlertAgent,
    AlertResolved,
    AlertTriggered,
    AlertUpdated,
    EventEnvelope,
    PagerDutySyncAttempted,
    UserCreated,
    UserDeactivated,
    UserUpdated,
)
from fireline_incidents.domain.commands import (
    ApplyAlert,
    RecordActivity,
    RecordSyncAttempt,
    RecordUser,
)
from fireline_incidents.domain.model import Assignee, Assignment, Status
from fireline_incidents.domain.timeline import Actor, pagerduty_actor
from fireline_incidents.service_layer import source_events, users
from fireline_incidents.service_layer.unit_of_work import BatchUnitOfWork, UnitOfWork
from fireline_runtime import correlation
from fireline_runtime.consumers import EventHandler
from fireline_runtime.db import Connection
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
        await users.record_user(uow=uow.on(conn), command=command)

    return EventHandler(
        name="incidents.users",
        topic=USERS,
        handle=handle,
        description="Keeps the users projection used to resolve incident creators.",
    )


def pagerduty_sync_consumer(uow: UnitOfWorkFactory[UnitOfWork]) -> EventHandler:
    """Puts every call pagerduty-ingest made to PagerDuty for a Fireline change on the
    incident's timeline ("Resolved in PagerDuty", "PagerDuty refused the resolution: 403 ...")."""

    async def handle(conn: Connection, event: EventEnvelope) -> None:
        if not isinstance(event, PagerDutySyncAttempted):
            return
        attempt = event.payload
        command = RecordSyncAttempt(
            org_id=event.org_id,
            incident_id=attempt.incident_id,
            event_id=str(event.event_id),
            action=attempt.action,
            outcome=attempt.outcome,
            attempt=attempt.attempt,
            status_code=attempt.status_code,
            detail=attempt.detail,
            next_attempt_at=attempt.next_attempt_at,
            attempted_at=attempt.attempted_at,
        )
        await source_events.record_sync_attempt(uow=uow.on(conn), command=command)

    return EventHandler(
        name="incidents.pagerduty-sync",
        topic=PAGERDUTY_SYNC,
        handle=handle,
        description="Records on the timeline each attempt at sending a Fireline change to "
        "PagerDuty.",
    )


def _actor(agent: AlertAgent | None) -> Actor:
    if agent is None:
        return pagerduty_actor(None, None, None)
    return pagerduty_actor(agent.id, agent.type, agent.name)


def _status(event: AlertTriggered | AlertAcknowledged | AlertResolved | AlertUpdated) -> Status:
    # The snapshot's own status when the alert carries it (every alert written since it was
    # added); older alerts only say it through their type.
    status = event.payload.status
    if status in get_args(Status):
        return cast(Status, status)
    return _ALERT_STATUS.get(event.event_type, "triggered")


def alerts_consumer(
    uow: UnitOfWorkFactory[UnitOfWork], batch: Callable[[Connection], BatchUnitOfWork]
) -> EventHandler:
    """Starts incidents from PagerDuty alerts, mirrors their state and records their timeline.

    ``batch`` gives the unit of work a whole batch (a fetch's alerts) is applied on (set-based); the
    runtime falls back to ``handle``, one event at a time, when a batch fails.
    """

    async def handle(conn: Connection, event: EventEnvelope) -> None:
        if (command := _source_event(event)) is not None:
            await source_events.apply_source_event(uow=uow.on(conn), command=command)

    async def handle_batch(conn: Connection, events: Sequence[EventEnvelope]) -> None:
        work = [(event, command) for event in events if (command := _source_event(event))]
        on_batch = batch(conn)
        await source_events.prefetch_source_events(uow=on_batch, commands=[c for _, c in work])
        for event, command in work:
            correlation.set_(event.correlation_id)  # carried on to the events it causes
            await source_events.apply_source_event(uow=on_batch, command=command)
        await on_batch.flush()

    return EventHandler(
        name="incidents.alerts",
        topic=ALERTS,
        handle=handle,
        handle_batch=handle_batch,
        description="Starts an incident per PagerDuty incident (idempotently), mirrors its "
        "state and records every PagerDuty event on its timeline.",
    )


def _source_event(event: EventEnvelope) -> source_events.SourceEvent | None:
    if isinstance(event, AlertActivity):
        return _activity(event)
    if not isinstance(event, AlertTriggered | AlertAcknowledged | AlertResolved | AlertUpdated):
        return None
    alert = event.payload
    return ApplyAlert(
        org_id=event.org_id,
        status=_status(event),
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
        event_type=alert.pagerduty_event_type,
        event_id=alert.pagerduty_event_id or alert.delivery_id,
        actor=_actor(alert.agent),
        priority=alert.priority,
        priority_severity=alert.priority_severity,
        assignment=None
        if alert.assignees is None
        else Assignment(
            assignees=tuple(Assignee(id=a.id, name=a.name) for a in alert.assignees),
            escalation_policy_id=alert.escalation_policy_id,
            escalation_policy_name=alert.escalation_policy_name,
        ),
        merged_into=alert.merged_into,
        source_incident_type=alert.pagerduty_incident_type,
        fireline_change=alert.fireline_change,
    )


def _activity(event: AlertActivity) -> RecordActivity:
    activity = event.payload
    return RecordActivity(
        org_id=event.org_id,
        source=activity.source,
        external_id=activity.external_id,
        title=activity.title,
        html_url=activity.html_url,
        event_id=activity.pagerduty_event_id,
        event_type=activity.pagerduty_event_type,
        kind=activity.kind,
        summary=activity.summary,
        text=activity.text,
        actor=_actor(activity.agent),
        occurred_at=activity.alert_occurred_at,
        fireline_change=activity.fireline_change,
    )
