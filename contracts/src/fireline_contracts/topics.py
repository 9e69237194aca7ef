"""The topic registry: every Kafka topic Fireline uses, its key and the events it carries."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from fireline_contracts.alerts import (
    AlertAcknowledged,
    AlertActivity,
    AlertResolved,
    AlertTriggered,
    AlertUpdated,
)
from fireline_contracts.envelope import EventEnvelope
from fireline_contracts.incidents import (
    IncidentAssignmentChanged,
    IncidentDetailsChanged,
    IncidentSeverityChanged,
    IncidentStarted,
    IncidentStatusChanged,
    IncidentTimelineEntryAdded,
)
from fireline_contracts.integrations import (
    IntegrationChanged,
    IntegrationCreated,
    IntegrationDeleted,
    SigningSecretsRotated,
)
from fireline_contracts.key_exchange_failures import KeyExchangeFailed
from fireline_contracts.key_usage import KeyUsed
from fireline_contracts.keys import KeyCreated, KeyRenamed, KeyRevoked, KeyRotated, KeysWatermark
from fireline_contracts.notifications import (
    WebhookEndpointChanged,
    WebhookEndpointCreated,
    WebhookEndpointDeleted,
    WebhookEndpointDisabled,
    WebhookEndpointSecretRotated,
)
from fireline_contracts.pagerduty_sync import PagerDutySyncAttempted
from fireline_contracts.sessions import LoginFailed, LoginSucceeded, SessionRevoked
from fireline_contracts.users import UserCreated, UserDeactivated, UserUpdated


@dataclass(frozen=True)
class TopicSpec:
    """A topic's contract: its versioned name, what its messages are keyed by, its events, and
    who may touch it: ``owner`` is the one service that writes it, ``readers`` the services that
    read it. The broker's ACLs are derived from these two fields (fireline_runtime.kafka_acls),
    and docs/architecture.md's topic table is generated from them."""

    name: str
    key: str
    compacted: bool
    events: tuple[type[EventEnvelope], ...]
    description: str
    owner: str
    readers: tuple[str, ...]

    @cached_property
    def event_types(self) -> frozenset[str]:
        """The ``event_type`` names allowed on this topic (computed once: every consumed record
        is checked against it, and rebuilding it was 9% of a consumer's parsing)."""
        return frozenset(event.declared_event_type() for event in self.events)


KEYS = TopicSpec(
    name="fireline.identity.keys.v1",
    key="key_id",
    compacted=True,
    events=(KeyCreated, KeyRenamed, KeyRotated, KeyRevoked, KeysWatermark),
    description="API key lifecycle, and a watermark per partition about once a second, "
    "published and signed by identity.",
    owner="identity",
    readers=("auth", "incidents", "pagerduty-ingest", "notifications", "identity"),
)
USERS = TopicSpec(
    name="fireline.identity.users.v1",
    key="user_id",
    compacted=True,
    events=(UserCreated, UserUpdated, UserDeactivated),
    description="Users with their full state, published by identity.",
    owner="identity",
    readers=("incidents", "identity"),
)
KEY_USAGE = TopicSpec(
    name="fireline.auth.key-usage.v1",
    key="key_id",
    compacted=False,
    events=(KeyUsed,),
    description="API keys exchanged for tokens, published by auth.",
    owner="auth",
    readers=("identity",),
)
ALERTS = TopicSpec(
    name="fireline.alerts.v1",
    key="external_id (the PagerDuty incident id)",
    compacted=False,
    events=(AlertTriggered, AlertAcknowledged, AlertResolved, AlertUpdated, AlertActivity),
    description="PagerDuty incident lifecycle, published by pagerduty-ingest.",
    owner="pagerduty-ingest",
    readers=("incidents",),
)
INCIDENTS = TopicSpec(
    name="fireline.incidents.v1",
    key="incident_id",
    compacted=False,
    events=(
        IncidentStarted,
        IncidentStatusChanged,
        IncidentSeverityChanged,
        IncidentAssignmentChanged,
        IncidentDetailsChanged,
        IncidentTimelineEntryAdded,
    ),
    description="Fireline incidents: their state changes and timeline, published by incidents.",
    owner="incidents",
    readers=("notifications", "incidents", "pagerduty-ingest"),
)

SESSIONS = TopicSpec(
    name="fireline.identity.sessions.v1",
    key="user_id",
    compacted=False,
    events=(LoginSucceeded, LoginFailed, SessionRevoked),
    description="Logins (succeeded and failed) and revoked sessions, published by identity.",
    owner="identity",
    readers=("incidents", "pagerduty-ingest", "notifications", "identity"),
)
KEY_EXCHANGE_FAILURES = TopicSpec(
    name="fireline.auth.key-exchange-failures.v1",
    key="key_id",
    compacted=False,
    events=(KeyExchangeFailed,),
    description="Failed exchanges of existing API keys, one aggregate per key and minute, "
    "published by auth.",
    owner="auth",
    readers=("identity",),
)
INTEGRATIONS = TopicSpec(
    name="fireline.pagerduty.integrations.v1",
    key="integration_id",
    compacted=False,
    events=(IntegrationCreated, IntegrationChanged, SigningSecretsRotated, IntegrationDeleted),
    description="PagerDuty integrations created, changed, deleted and their signing secrets "
    "rotated, published by pagerduty-ingest.",
    owner="pagerduty-ingest",
    readers=("identity",),
)
NOTIFICATIONS = TopicSpec(
    name="fireline.notifications.v1",
    key="endpoint_id",
    compacted=False,
    events=(
        WebhookEndpointCreated,
        WebhookEndpointChanged,
        WebhookEndpointSecretRotated,
        WebhookEndpointDeleted,
        WebhookEndpointDisabled,
    ),
    description="Webhook endpoints created, changed, deleted and their secrets rotated by "
    "admins, and those the service disabled (410 Gone, or failing for days), published by "
    "notifications.",
    owner="notifications",
    readers=("identity",),
)
PAGERDUTY_SYNC = TopicSpec(
    name="fireline.pagerduty.sync.v1",
    key="incident_id",
    compacted=False,
    events=(PagerDutySyncAttempted,),
    description="Calls to PagerDuty's REST API mirroring changes made in Fireline (status, "
    "notes) and their outcomes, published by pagerduty-ingest.",
    owner="pagerduty-ingest",
    readers=("incidents",),
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    KEYS,
    USERS,
    KEY_USAGE,
    ALERTS,
    INCIDENTS,
    SESSIONS,
    KEY_EXCHANGE_FAILURES,
    INTEGRATIONS,
    NOTIFICATIONS,
    PAGERDUTY_SYNC,
)


def topic_name(spec: TopicSpec, prefix: str = "") -> str:
    """The topic's name on the broker; a prefix lets test runs share a broker without colliding."""
    return prefix + spec.name


def dlq_name(topic: str) -> str:
    """The dead-letter topic for ``topic`` (pass the prefixed name)."""
    return f"{topic}.dlq"
