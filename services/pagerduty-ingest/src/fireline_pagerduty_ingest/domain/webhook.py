"""PagerDuty V3 webhook deliveries, parsed into typed, immutable values.

A V3 delivery is ``{"event": {id, event_type, resource_type, occurred_at, agent, client, data}}``.
What ``data`` holds depends on the event type: for the incident lifecycle types it *is* the
incident; for ``incident.annotated``, ``incident.responder.*``, ``incident.status_update_published``
and the like it is a note, responder or status update whose ``incident`` field references the
incident; for ``pagey.ping`` and ``service.*`` there is no incident at all.

Text PagerDuty may send but Fireline cannot hold (U+0000 and lone surrogates) is replaced with
U+FFFD while parsing; the raw body is stored unchanged beside the delivery for audit. What no
rewriting can make storable is refused before the delivery is accepted (see
``fireline_contracts.bounds``): an id longer than 255 characters (it could not be indexed
downstream, and a shortened id would no longer name PagerDuty's object), nesting deeper than 64,
an ``occurred_at`` at the edge of the calendar. PagerDuty never sends any of these, so only a
delivery made up by whoever holds the signing secret meets that 400.

Parsing is strict about the envelope (without it nothing can be deduplicated or routed) and
lenient about everything inside ``data``: PagerDuty adds event types and fields over time, and a
delivery answered with a 4xx is dropped for good, so an unfamiliar shape must never be refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from json import JSONDecodeError
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fireline_contracts.bounds import (
    EARLIEST_INSTANT,
    LATEST_INSTANT,
    MAX_EXTERNAL_ID_LENGTH,
    loads_bounded,
    within_instant_bounds,
)
from fireline_contracts.text import normalise_strings
from fireline_pagerduty_ingest.domain.activity import Activity, describe_activity

USER_REFERENCE = "user_reference"
"""``agent.type`` when a person caused the event; integrations and the Events API are not people."""


class MalformedDelivery(ValueError):
    """The body is not a V3 webhook delivery; the message says what is wrong, for the 400 answer."""


class Lifecycle(Enum):
    """Where an event moves a PagerDuty incident, as far as Fireline's alerts are concerned."""

    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    OTHER = "other"


# The three transitions that keep their own alert event types. Every other incident event is
# published too (AlertUpdated, AlertActivity: see ``Publication``); two look like these but are
# not: incident.reopened keeps the PagerDuty incident's id, so it is not a new trigger, and
# incident.unacknowledged is an acknowledgement that timed out. Both carry the new status in
# the snapshot, which is what consumers mirror.
_LIFECYCLES: Mapping[str, Lifecycle] = {
    "incident.triggered": Lifecycle.TRIGGERED,
    "incident.acknowledged": Lifecycle.ACKNOWLEDGED,
    "incident.resolved": Lifecycle.RESOLVED,
}


def lifecycle(event_type: str) -> Lifecycle:
    """The lifecycle step a PagerDuty ``event_type`` represents; OTHER for everything else."""
    return _LIFECYCLES.get(event_type, Lifecycle.OTHER)


class Publication(Enum):
    """What a delivery becomes on the alerts topic."""

    ALERT = "alert"
    """The delivery carried the whole incident: AlertTriggered/Acknowledged/Resolved/Updated."""
    ACTIVITY = "activity"
    """It only referenced the incident (a note, a status update...): AlertActivity."""
    NONE = "none"
    """No incident at all (pagey.ping, service.*, unknown types): recorded, never published."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AgentRef(_Frozen):
    """Who or what caused the event: a reference, never an email (that needs the REST API)."""

    id: str = Field(description="PagerDuty id of the user or integration.")
    type: str = Field(description="Reference type, e.g. `user_reference`.")
    summary: str | None = Field(default=None, description="Display name, if PagerDuty sent one.")


class UserRef(_Frozen):
    """A PagerDuty user reference (an assignee)."""

    id: str = Field(description="PagerDuty user id.")
    summary: str | None = Field(default=None, description="Display name, if sent.")


class IncidentSnapshot(_Frozen):
    """The incident an event is about, as far as the delivery describes it.

    When ``is_reference`` is true the delivery only referenced the incident (annotations,
    responders, status updates), so everything except ``id``, ``html_url`` and ``summary`` is
    unknown rather than empty: do not overwrite stored values with these Nones.
    """

    id: str = Field(description="PagerDuty incident id; the external id incidents dedupe on.")
    is_reference: bool = Field(
        description="True when the delivery carried only a reference, not the full incident.",
    )
    number: int | None = Field(default=None, description="Account-wide incident number.")
    title: str | None = Field(default=None, description="Incident title.")
    summary: str | None = Field(default=None, description="Reference summary (usually the title).")
    status: str | None = Field(default=None, description="`triggered`, `acknowledged`, `resolved`.")
    html_url: str | None = Field(default=None, description="Link to the incident in PagerDuty.")
    urgency: str | None = Field(default=None, description="`high` or `low`.")
    priority: str | None = Field(default=None, description="Priority name, e.g. `P1`.")
    service_id: str | None = Field(default=None, description="PagerDuty service id.")
    service_name: str | None = Field(default=None, description="PagerDuty service name.")
    escalation_policy_id: str | None = Field(
        default=None,
        description="Escalation policy whose on-call users are the creator candidates.",
    )
    incident_type: str | None = Field(default=None, description="PagerDuty incident type name.")
    escalation_policy_name: str | None = Field(default=None, description="Its summary (name).")
    assignees: tuple[UserRef, ...] | None = Field(
        default=None, description="Assignees (empty when resolved); None when not sent."
    )
    merged_into: str | None = Field(
        default=None,
        description="With a `merge_resolve_reason`: the incident this one was merged into.",
    )


class WebhookEvent(_Frozen):
    """One parsed V3 delivery.

    Invariant: when ``lifecycle`` is not OTHER, ``incident`` is a full snapshot (never None and
    never a reference); parsing refuses lifecycle events that do not carry their incident.
    """

    id: str = Field(description="PagerDuty's event id; the dedupe key when X-Webhook-Id is absent.")
    event_type: str = Field(description="e.g. `incident.triggered`, `pagey.ping`.")
    resource_type: str = Field(description="The primary resource affected, e.g. `incident`.")
    occurred_at: datetime = Field(description="When the event happened, in UTC.")
    agent: AgentRef | None = Field(
        default=None,
        description="Who caused it; None for the Events API, automation and pings.",
    )
    data_type: str | None = Field(
        default=None,
        description="`event.data.type`, e.g. `incident` or `incident_note`, if sent.",
    )
    incident: IncidentSnapshot | None = Field(
        default=None,
        description="The incident the event concerns; None for non-incident events.",
    )
    activity: Activity | None = Field(
        default=None, description="For reference-only incident events: what happened."
    )

    @property
    def publication(self) -> Publication:
        """What the delivery becomes on the alerts topic."""
        if self.incident is None:
            return Publication.NONE
        return Publication.ACTIVITY if self.incident.is_reference else Publication.ALERT

    @property
    def lifecycle(self) -> Lifecycle:
        """The lifecycle step this event represents."""
        return lifecycle(self.event_type)

    @property
    def agent_user_id(self) -> str | None:
        """The PagerDuty user id behind the event, only when a person (not an integration) acted."""
        if self.agent is not None and self.agent.type == USER_REFERENCE:
            return self.agent.id
        return None


def parse_delivery(raw: bytes) -> WebhookEvent:
    """Parse a raw V3 delivery body; raise MalformedDelivery, saying what is wrong, if it is not."""
    text = _plain_utf8(raw)
    try:
        # Bounded before normalise_strings walks it: that walk is recursive.
        document: Any = loads_bounded(raw if text is None else text)
    except ValueError as exc:
        # Bad JSON, bytes that are not UTF-8, and nesting past the limit alike.
        raise MalformedDelivery(f"the body is not valid JSON ({_reason(exc)})") from exc
    # JSON may carry text no incident can hold (U+0000, lone surrogates). Refusing it would make
    # PagerDuty drop the delivery, so it is normalised to U+FFFD instead; the stored raw body
    # keeps what was sent. Every value read below, the dedupe key included, is normalised.
    if text is None or _ESCAPED_UNSTORABLE.search(text) is not None:
        document = normalise_strings(document)
    if not isinstance(document, dict):
        raise MalformedDelivery(f"the body must be a JSON object, not {_json_type(document)}")
    if "event" not in document:
        raise MalformedDelivery('the body has no "event" object; is this a V3 webhook?')
    event = document["event"]
    if not isinstance(event, dict):
        raise MalformedDelivery(f'"event" must be a JSON object, not {_json_type(event)}')

    event_id = _identifier(_required_str(event, "id"), "event.id")
    event_type = _required_str(event, "event_type")
    resource_type = _required_str(event, "resource_type")
    occurred_at = _timestamp(event)
    # PagerDuty documents agent and data as always present (possibly null). A missing key is
    # read as null rather than refused, since refusing makes PagerDuty drop the delivery.
    agent = _optional_object(event, "agent")
    data = _optional_object(event, "data")

    parsed_agent = _agent(agent)
    incident = _incident(event_type, data)
    return WebhookEvent(
        id=event_id,
        event_type=event_type,
        resource_type=resource_type,
        occurred_at=occurred_at,
        agent=parsed_agent,
        data_type=_text(data, "type") if data is not None else None,
        incident=incident,
        activity=describe_activity(
            event_type, data or {}, actor=parsed_agent.summary if parsed_agent else None
        )
        if incident is not None and incident.is_reference
        else None,
    )


_ESCAPED_UNSTORABLE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
"""The JSON escapes of U+0000 and of the surrogates (an escaped backslash before one matches too,
which only costs a walk)."""


def _plain_utf8(raw: bytes) -> str | None:
    """``raw`` as text when it is strict UTF-8 without a byte-order mark; else None.

    In such a text the only way to U+0000 or a lone surrogate is an escape: JSON refuses raw
    control characters in strings, and strict UTF-8 has no surrogates (``json.loads`` would
    decode encoded ones from bytes). So a text without those escapes needs no normalising walk,
    which was half of parsing a delivery. Anything else (UTF-16 or UTF-32, a BOM, encoded
    surrogates) is parsed from the bytes and walked, as before.
    """
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return None
    # A NUL is in no valid UTF-8 JSON; it is in every UTF-16 or UTF-32 one, which json.loads
    # would have detected from the bytes.
    return None if text.startswith("\ufeff") or "\x00" in text else text


def stored_form(event: WebhookEvent) -> str:
    """``event`` as the receiver stores it beside the raw body (``deliveries.parsed_event``)."""
    return event.model_dump_json()


def restored(stored: str | None, raw: bytes) -> WebhookEvent:
    """The event the receiver parsed from ``raw``: read back from its stored form, a tenth of
    the cost of parsing and normalising the body again. Parsed from ``raw`` when there is no
    stored form (a row stored before it was kept) or it no longer validates (stored by a version
    whose ``WebhookEvent`` differed): the raw body stays the record of what was sent."""
    if stored is not None:
        try:
            return WebhookEvent.model_validate_json(stored)
        except ValidationError:
            pass
    return parse_delivery(raw)


def _incident(event_type: str, data: Mapping[str, Any] | None) -> IncidentSnapshot | None:
    if not event_type.startswith("incident."):
        return None
    if data is not None and data.get("type") == "incident":
        incident_id = _text(data, "id")
        if not incident_id:
            raise MalformedDelivery(f"event.data.id must be a non-empty string for {event_type}")
        return _full_snapshot(_identifier(incident_id, "event.data.id"), data)
    if lifecycle(event_type) is not Lifecycle.OTHER:
        # Consumers act on these three; without the incident there is nothing to act on.
        raise MalformedDelivery(
            f'event.data must be the incident (with "type": "incident") for {event_type}'
        )
    reference = data.get("incident") if data is not None else None
    if isinstance(reference, dict):
        incident_id = _text(reference, "id")
        if incident_id:
            return IncidentSnapshot(
                id=_identifier(incident_id, "event.data.incident.id"),
                is_reference=True,
                html_url=_text(reference, "html_url"),
                summary=_text(reference, "summary"),
            )
    # An incident.* event type we do not know, or one without a usable reference: accepted and
    # carried along, but there is no incident to attach it to.
    return None


def _full_snapshot(incident_id: str, data: Mapping[str, Any]) -> IncidentSnapshot:
    service = _nested(data, "service")
    priority = _nested(data, "priority")
    escalation_policy = _nested(data, "escalation_policy")
    incident_type = _nested(data, "incident_type")
    resolve_reason = _nested(data, "resolve_reason")
    number = data.get("number")
    return IncidentSnapshot(
        id=incident_id,
        is_reference=False,
        # bool is an int subclass; a true/false "number" is junk, not incident #1.
        number=number if isinstance(number, int) and not isinstance(number, bool) else None,
        title=_text(data, "title"),
        summary=_text(data, "summary"),
        status=_text(data, "status"),
        html_url=_text(data, "html_url"),
        urgency=_text(data, "urgency"),
        # Webhooks carry priority as a reference whose summary is the name; the REST API's full
        # priority object has a name. Accept either.
        priority=_text(priority, "summary") or _text(priority, "name"),
        service_id=_optional_identifier(_text(service, "id"), "event.data.service.id"),
        service_name=_text(service, "summary") or _text(service, "name"),
        escalation_policy_id=_optional_identifier(
            _text(escalation_policy, "id"), "event.data.escalation_policy.id"
        ),
        incident_type=_text(incident_type, "name"),
        escalation_policy_name=_text(escalation_policy, "summary"),
        assignees=_assignees(data.get("assignees")),
        merged_into=_optional_identifier(
            _text(_nested(resolve_reason, "incident"), "id"),
            "event.data.resolve_reason.incident.id",
        )
        if _text(resolve_reason, "type") == "merge_resolve_reason"
        else None,
    )


def _assignees(value: object) -> tuple[UserRef, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(
        UserRef(
            id=_identifier(ref["id"], "event.data.assignees[].id"), summary=_text(ref, "summary")
        )
        for ref in value
        if isinstance(ref, dict) and isinstance(ref.get("id"), str)
    )


def _agent(agent: Mapping[str, Any] | None) -> AgentRef | None:
    if agent is None:
        return None
    agent_id = _text(agent, "id")
    agent_type = _text(agent, "type")
    if not agent_id or not agent_type:
        # An agent we cannot identify is as good as none: it cannot be resolved to a user.
        return None
    return AgentRef(
        id=_identifier(agent_id, "event.agent.id"), type=agent_type, summary=_text(agent, "summary")
    )


def _identifier(value: str, where: str) -> str:
    if len(value) > MAX_EXTERNAL_ID_LENGTH:
        raise MalformedDelivery(
            f"{where} is longer than {MAX_EXTERNAL_ID_LENGTH} characters ({len(value)})"
        )
    return value


def _optional_identifier(value: str | None, where: str) -> str | None:
    return None if value is None else _identifier(value, where)


def _required_str(event: Mapping[str, Any], key: str) -> str:
    if key not in event:
        raise MalformedDelivery(f"event.{key} is missing")
    value = event[key]
    if not isinstance(value, str) or not value.strip():
        raise MalformedDelivery(f"event.{key} must be a non-empty string, not {_json_type(value)}")
    return value


def _timestamp(event: Mapping[str, Any]) -> datetime:
    text = _required_str(event, "occurred_at")
    try:
        # Python 3.11's fromisoformat reads PagerDuty's "2020-10-02T18:45:22.169Z" form.
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MalformedDelivery(
            f"event.occurred_at is not an ISO 8601 timestamp: {text[:64]!r}"
        ) from exc
    if moment.tzinfo is None:
        # Guessing a zone would shift every ordering decision made on this time.
        raise MalformedDelivery(f"event.occurred_at has no UTC offset: {text[:64]!r}")
    bounded = within_instant_bounds(moment)
    if bounded is None:
        raise MalformedDelivery(
            f"event.occurred_at must lie between {EARLIEST_INSTANT.date().isoformat()} and "
            f"{LATEST_INSTANT.date().isoformat()} UTC: {text[:64]!r}"
        )
    return bounded


def _optional_object(event: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = event.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise MalformedDelivery(f"event.{key} must be an object or null, not {_json_type(value)}")


def _nested(data: Mapping[str, Any] | None, key: str) -> Mapping[str, Any] | None:
    value = data.get(key) if data is not None else None
    return value if isinstance(value, dict) else None


def _text(data: Mapping[str, Any] | None, key: str) -> str | None:
    if data is None:
        return None
    value = data.get(key)
    return value if isinstance(value, str) else None


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return "it is not UTF-8 text"
    return str(exc)
