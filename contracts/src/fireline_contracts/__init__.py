"""Fireline's shared event contracts: the envelope, one module per topic, and the topic registry.

Producers build an event and hand it to the outbox with its ``TopicSpec``; consumers turn bytes
back into a typed event with ``parse_event``.
"""

from fireline_contracts.alerts import (
    AlertAcknowledged,
    AlertEvent,
    AlertPayload,
    AlertResolved,
    AlertTriggered,
)
from fireline_contracts.compatibility import compatibility_problems
from fireline_contracts.envelope import ContractModel, EventEnvelope, UtcDatetime, utc_now
from fireline_contracts.incidents import (
    IncidentEvent,
    IncidentSource,
    IncidentStarted,
    IncidentStartedPayload,
    IncidentStatusChanged,
    IncidentStatusChangedPayload,
)
from fireline_contracts.key_usage import KeyUsageEvent, KeyUsed, KeyUsedPayload
from fireline_contracts.keys import (
    KeyCreated,
    KeyCreatedPayload,
    KeyEvent,
    KeyRenamed,
    KeyRenamedPayload,
    KeyRevoked,
    KeyRevokedPayload,
    KeyRotated,
    KeyRotatedPayload,
)
from fireline_contracts.registry import (
    EVENT_TYPES,
    UPCASTERS,
    ContractError,
    UnknownEventType,
    Upcaster,
    parse_event,
    topic_for_event_type,
)
from fireline_contracts.topics import (
    ALERTS,
    ALL_TOPICS,
    INCIDENTS,
    KEY_USAGE,
    KEYS,
    USERS,
    TopicSpec,
    dlq_name,
    topic_name,
)
from fireline_contracts.users import (
    UserCreated,
    UserDeactivated,
    UserEvent,
    UserPayload,
    UserUpdated,
)

__all__ = [
    "ALERTS",
    "ALL_TOPICS",
    "EVENT_TYPES",
    "INCIDENTS",
    "KEYS",
    "KEY_USAGE",
    "UPCASTERS",
    "USERS",
    "AlertAcknowledged",
    "AlertEvent",
    "AlertPayload",
    "AlertResolved",
    "AlertTriggered",
    "ContractError",
    "ContractModel",
    "EventEnvelope",
    "IncidentEvent",
    "IncidentSource",
    "IncidentStarted",
    "IncidentStartedPayload",
    "IncidentStatusChanged",
    "IncidentStatusChangedPayload",
    "KeyCreated",
    "KeyCreatedPayload",
    "KeyEvent",
    "KeyRenamed",
    "KeyRenamedPayload",
    "KeyRevoked",
    "KeyRevokedPayload",
    "KeyRotated",
    "KeyRotatedPayload",
    "KeyUsageEvent",
    "KeyUsed",
    "KeyUsedPayload",
    "TopicSpec",
    "UnknownEventType",
    "Upcaster",
    "UserCreated",
    "UserDeactivated",
    "UserEvent",
    "UserPayload",
    "UserUpdated",
    "UtcDatetime",
    "compatibility_problems",
    "dlq_name",
    "parse_event",
    "topic_for_event_type",
    "topic_name",
    "utc_now",
]
