"""What a reference-only PagerDuty incident event says happened, as one timeline-ready record.

These events (``data.type`` `incident_note`, `incident_status_update`, `incident_responder`,
`incident_conference_bridge`, `incident_field_values`, `incident_workflow_instance`) carry only a
reference to the incident beside their own object. Every field is read leniently: any may be
missing or null (PagerDuty documents several as nullable and adds fields over time), and a
delivery refused for its shape would be dropped by PagerDuty for good.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Enough of a custom field list for a summary line; the full list is in the event.
_SUMMARY_FIELDS = 5


class FieldValue(BaseModel):
    """A custom field value: text, a list of texts (multi-value fields) or cleared."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    value: str | tuple[str, ...] | None


class Activity(BaseModel):
    """What happened, ready for the alert event and the incident's timeline."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(description="`note`, `status_update`, `responder`, ... or `other`.")
    summary: str = Field(description="One human-readable line.")
    text: str | None = Field(default=None, description="What a person wrote, if anything.")
    responder_name: str | None = None
    responder_state: str | None = None
    conference_url: str | None = None
    conference_numbers: tuple[str, ...] = ()
    workflow_name: str | None = None
    custom_fields: tuple[FieldValue, ...] = ()


def describe_activity(event_type: str, data: Mapping[str, Any], *, actor: str | None) -> Activity:
    """The activity an incident event that only referenced its incident records."""
    by = f" by {actor}" if actor else ""
    if event_type == "incident.annotated":
        content = _text(data, "content")
        return Activity(kind="note", summary=f"Note added in PagerDuty{by}", text=content)
    if event_type == "incident.status_update_published":
        message = _text(data, "message")
        return Activity(kind="status_update", summary=f"Status update published{by}", text=message)
    if event_type.startswith("incident.responder."):
        return _responder(event_type, data, by)
    if event_type == "incident.conference_bridge.updated":
        url = _text(data, "conference_url")
        numbers = tuple(
            n for n in (_text(item, "number") for item in _objects(data, "conference_numbers")) if n
        )
        where = url or (numbers[0] if numbers else "removed")
        return Activity(
            kind="conference_bridge",
            summary=f"Conference bridge set to {where}{by}",
            conference_url=url,
            conference_numbers=numbers,
        )
    if event_type == "incident.custom_field_values.updated":
        fields = tuple(
            FieldValue(name=name, value=_field_value(item.get("value")))
            for item in _objects(data, "changed_custom_fields") or _objects(data, "custom_fields")
            if (name := _text(item, "name"))
        )
        names = ", ".join(f.name for f in fields[:_SUMMARY_FIELDS]) or "none"
        more = "…" if len(fields) > _SUMMARY_FIELDS else ""
        return Activity(
            kind="custom_fields",
            summary=f"Custom fields changed: {names}{more}{by}",
            custom_fields=fields,
        )
    if event_type.startswith("incident.workflow."):
        workflow = _text(_object(data, "incident_workflow"), "summary") or _text(data, "summary")
        verb = "completed" if event_type.endswith(".completed") else "started"
        return Activity(
            kind="workflow",
            summary=f"Workflow {workflow or 'unnamed'} {verb}{by}",
            workflow_name=workflow,
        )
    return Activity(kind="other", summary=f"{event_type} in PagerDuty{by}")


def _responder(event_type: str, data: Mapping[str, Any], by: str) -> Activity:
    responder = _text(_object(data, "user"), "summary") or _text(
        _object(data, "escalation_policy"), "summary"
    )
    state = _text(data, "state")
    who = responder or "a responder"
    if event_type.endswith(".replied"):
        summary = f"{who} replied to the responder request ({state or 'no answer'})"
    else:
        summary = f"{who} asked to respond{by}"
    return Activity(
        kind="responder",
        summary=summary,
        text=_text(data, "message"),
        responder_name=responder,
        responder_state=state,
    )


def _field_value(value: object) -> str | tuple[str, ...] | None:
    # Multi-value fields send arrays; numbers and booleans are shown as text.
    if value is None:
        return None
    if isinstance(value, list):
        return tuple(str(v) for v in value if v is not None)
    return value if isinstance(value, str) else str(value)


def _object(data: Mapping[str, Any] | None, key: str) -> Mapping[str, Any] | None:
    value = data.get(key) if data is not None else None
    return value if isinstance(value, dict) else None


def _objects(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = data.get(key)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(data: Mapping[str, Any] | None, key: str) -> str | None:
    value = data.get(key) if data is not None else None
    return value if isinstance(value, str) else None
