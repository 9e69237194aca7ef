"""The compatibility checker tells a safe schema change from one that strands stored events."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import BaseModel

from fireline_contracts import (
    EVENT_TYPES,
    AlertTriggered,
    EventEnvelope,
    IncidentStarted,
    KeyCreated,
    KeyRenamed,
    KeyRevoked,
    UserUpdated,
    compatibility_problems,
)


def _schema(event: type[EventEnvelope]) -> dict[str, Any]:
    return copy.deepcopy(event.model_json_schema())


@pytest.mark.parametrize("event", EVENT_TYPES.values(), ids=EVENT_TYPES.keys())
def test_an_unchanged_schema_is_compatible(event: type[EventEnvelope]) -> None:
    assert compatibility_problems(_schema(event), _schema(event)) == []


def test_a_removed_field_is_incompatible() -> None:
    new = _schema(KeyCreated)
    payload = new["$defs"]["KeyCreatedPayload"]
    del payload["properties"]["name"]
    payload["required"].remove("name")

    assert compatibility_problems(_schema(KeyCreated), new) == [
        "(root).payload.name: property removed"
    ]


def test_a_removed_envelope_field_is_incompatible() -> None:
    new = _schema(KeyCreated)
    del new["properties"]["correlation_id"]

    assert compatibility_problems(_schema(KeyCreated), new) == [
        "(root).correlation_id: property removed"
    ]


def test_a_type_change_is_incompatible() -> None:
    new = _schema(IncidentStarted)
    new["$defs"]["IncidentStartedPayload"]["properties"]["number"] = {"type": "string"}

    assert compatibility_problems(_schema(IncidentStarted), new) == [
        "(root).payload.number: type changed from integer to string"
    ]


def test_a_new_required_field_is_incompatible() -> None:
    new = _schema(AlertTriggered)
    payload = new["$defs"]["AlertPayload"]
    payload["properties"]["priority_rank"] = {"type": "integer"}
    payload["required"].append("priority_rank")

    assert compatibility_problems(_schema(AlertTriggered), new) == [
        "(root).payload.priority_rank: new required property"
    ]


def test_an_optional_field_becoming_required_is_incompatible() -> None:
    new = _schema(KeyCreated)
    new["$defs"]["KeyCreatedPayload"]["required"].append("expires_at")

    assert compatibility_problems(_schema(KeyCreated), new) == [
        "(root).payload.expires_at: property became required"
    ]


def test_a_new_optional_field_is_compatible() -> None:
    new = _schema(AlertTriggered)
    new["$defs"]["AlertPayload"]["properties"]["runbook_url"] = {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": None,
        "description": "Link to the service's runbook.",
    }

    assert compatibility_problems(_schema(AlertTriggered), new) == []


def test_key_renamed_gaining_the_keys_state_is_compatible() -> None:
    # KeyRenamed v1 as first published: key id and name only.
    old = _schema(KeyRenamed)
    payload = old["$defs"]["KeyRenamedPayload"]
    for name in ("digest", "scopes", "expires_at", "created_by", "created_at"):
        del payload["properties"][name]

    assert payload["required"] == ["key_id", "name"]
    assert compatibility_problems(old, _schema(KeyRenamed)) == []


def test_widening_a_field_and_editing_docs_are_compatible() -> None:
    new = _schema(IncidentStarted)
    props = new["$defs"]["IncidentStartedPayload"]["properties"]
    props["title"] = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    props["number"]["description"] = "Reworded."
    del props["number"]["minimum"]

    assert compatibility_problems(_schema(IncidentStarted), new) == []


def test_a_narrowed_enum_is_incompatible() -> None:
    new = _schema(UserUpdated)
    new["$defs"]["UserPayload"]["properties"]["role"]["enum"] = ["admin"]

    assert compatibility_problems(_schema(UserUpdated), new) == [
        '(root).payload.role: no longer accepts "member"'
    ]


def test_a_changed_const_is_incompatible() -> None:
    new = _schema(KeyRevoked)
    new["properties"]["event_type"]["const"] = "KeyRevokedV2"

    assert compatibility_problems(_schema(KeyRevoked), new) == [
        '(root).event_type: no longer accepts "KeyRevoked"'
    ]


def test_a_nullable_field_becoming_mandatory_is_incompatible() -> None:
    new = _schema(KeyRevoked)
    new["$defs"]["KeyRevokedPayload"]["properties"]["revoked_by"] = {
        "format": "uuid",
        "type": "string",
    }

    assert compatibility_problems(_schema(KeyRevoked), new) == [
        "(root).payload.revoked_by: no longer accepts null"
    ]


def test_changes_inside_a_nested_optional_model_are_found() -> None:
    new = _schema(IncidentStarted)
    source = new["$defs"]["IncidentSource"]
    del source["properties"]["service_name"]
    source["properties"]["kind"]["maxLength"] = 16

    assert compatibility_problems(_schema(IncidentStarted), new) == [
        "(root).payload.source.service_name: property removed",
        "(root).payload.source.kind: maxLength tightened from None to 16",
    ]


def test_a_tightened_pattern_or_format_is_incompatible() -> None:
    new = _schema(KeyCreated)
    props = new["$defs"]["KeyCreatedPayload"]["properties"]
    props["digest"]["pattern"] = "^[0-9a-f]{128}$"
    props["name"]["format"] = "uuid"

    assert compatibility_problems(_schema(KeyCreated), new) == [
        "(root).payload.name: format changed from None to 'uuid'",
        "(root).payload.digest: pattern changed from '^[0-9a-f]{64}$' to '^[0-9a-f]{128}$'",
    ]


class _Node(BaseModel):
    label: str
    children: list[_Node | None]


def test_recursive_models_are_compared_without_looping() -> None:
    old = _Node.model_json_schema()
    new = copy.deepcopy(old)
    new["$defs"]["_Node"]["properties"]["label"] = {"type": "integer"}

    assert compatibility_problems(old, old) == []
    assert compatibility_problems(old, new) == ["(root).label: type changed from string to integer"]
