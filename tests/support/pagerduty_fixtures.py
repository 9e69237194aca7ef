"""Realistic PagerDuty V3 webhook deliveries for tests, and the headers PagerDuty sends with them.

The JSON files under ``tests/fixtures/pagerduty/`` follow PagerDuty's documented V3 payloads. All
incident fixtures describe the same incident (``INCIDENT_ID``) at different points of its life;
``pagey_ping`` and ``service_updated`` carry no incident. Tests that need unique incidents (e2e,
integration) call ``delivery(name, incident_id=new_incident_id())`` for a fresh body.

Signatures here are computed with ``hmac`` directly rather than with the service's own signer, so
a bug in the code under test cannot also hide itself in the test's expectations.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import EllipsisType
from typing import Any

FIXTURE_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "pagerduty"

FULL_INCIDENT_FIXTURES = (
    "incident_triggered",
    "incident_triggered_agent_null",
    "incident_triggered_events_api_null_key",
    "incident_triggered_legacy_2021",
    "incident_acknowledged",
    "incident_acknowledged_no_reopened_at",
    "incident_unacknowledged",
    "incident_resolved",
    "incident_resolved_merged",
    "incident_reopened",
    "incident_reassigned",
    "incident_escalated",
    "incident_delegated",
    "incident_priority_updated",
    "incident_service_updated",
    "incident_incident_type_changed",
)
"""Deliveries whose ``data`` is the whole incident (``data.type`` `incident`)."""

REFERENCE_FIXTURES = (
    "incident_annotated",
    "incident_status_update_published",
    "incident_responder_added",
    "incident_responder_replied",
    "incident_conference_bridge_updated",
    "incident_conference_bridge_updated_numbers_null",
    "incident_custom_field_values_updated",
    "incident_workflow_started",
    "incident_workflow_completed",
)
"""Deliveries that only reference the incident beside their own object."""

NO_INCIDENT_FIXTURES = (
    "pagey_ping",
    "pagey_ping_user",
    "service_created",
    "service_created_no_client",
    "service_updated",
    "service_deleted",
)
"""Deliveries about no incident at all."""

FIXTURES = FULL_INCIDENT_FIXTURES + REFERENCE_FIXTURES + NO_INCIDENT_FIXTURES
"""Every fixture name ``load`` and ``delivery`` accept (with or without ``.json``). Shapes follow
PagerDuty's documented V3 payloads and captured deliveries: agents that are users, integrations
or null, ``client`` null, absent or set, priority null, empty teams and assignees, payloads
without ``incident_key``/``reopened_at``/``incident_type``, a merge resolve reason, workflow
event ids that are long decimals, custom field values that are strings or arrays."""

INCIDENT_ID = "Q2KZ7TR4VJX9PD"
INCIDENT_NUMBER = 4127
INCIDENT_TITLE = "Checkout API error rate above 5% for 10 minutes"
INCIDENT_HTML_URL = f"https://acme.pagerduty.com/incidents/{INCIDENT_ID}"
SERVICE_ID = "PSV7K2M"
SERVICE_NAME = "Checkout API"
ESCALATION_POLICY_ID = "PEP4Q8Z"
PRIORITY = "P1"
URGENCY = "high"
INCIDENT_TYPE = "incident_default"

TRIGGERING_USER_ID = "PUA1B2C"
"""The person who triggered the incident by hand (``agent`` of ``incident_triggered``)."""
ON_CALL_USER_ID = "PUB3D4E"
"""The on-call assignee, who acknowledges, annotates and resolves it."""

USERS: dict[str, dict[str, str]] = {
    TRIGGERING_USER_ID: {"name": "Ada Lovelace", "email": "ada.lovelace@example.com"},
    ON_CALL_USER_ID: {"name": "Grace Hopper", "email": "grace.hopper@example.com"},
}
"""The fixtures' users as PagerDuty's REST API would describe them: feed to ``FakePagerDuty``."""

ONCALLS: dict[str, list[str]] = {ESCALATION_POLICY_ID: [ON_CALL_USER_ID]}
"""Who is on call (level 1) for the fixtures' escalation policy: feed to ``FakePagerDuty``."""

RAW_VARIANT_TITLE = "Café checkout \u2014 payments failing"
"""The title ``raw_variant_body`` gives its incident (non-ASCII on purpose)."""

SUBSCRIPTION_ID = "PWHSUB1"
"""The webhook subscription id sent in ``X-Webhook-Subscription``."""

USER_AGENT = "PagerDuty-Webhook/V3.0"

# Event ids derived for overridden incidents come from this namespace, so the same arguments give
# the same bytes (a replay) and different incidents give different event ids (no false dedupe).
_EVENT_ID_NAMESPACE = uuid.UUID("0f3c2a9e-6d41-4b8e-9a57-2c1d7e5b4f60")


def load(name: str) -> dict[str, Any]:
    """A fresh copy of the fixture ``name`` as a dict; mutate it freely."""
    path = FIXTURE_DIR / f"{_stem(name)}.json"
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def delivery(
    name: str,
    *,
    incident_id: str | None = None,
    event_id: str | None = None,
    agent_user_id: str | None = None,
    escalation_policy_id: str | None = None,
    title: str | None = None,
    occurred_at: str | None = None,
    priority: str | EllipsisType | None = ...,
    status: str | None = None,
) -> bytes:
    """The fixture ``name`` as a request body, with the given parts replaced.

    ``incident_id`` and ``escalation_policy_id`` are replaced everywhere they occur (ids and
    URLs). Unless ``event_id`` is given, an overridden ``incident_id`` also gets its own stable
    event id. ``agent_user_id`` makes a person the agent (also on the agent-null fixture).
    ``title`` sets the incident's title, or the reference's summary for annotations.
    ``occurred_at`` sets PagerDuty's event time; ``priority`` the incident's priority name (None:
    no priority) and ``status`` its status, on deliveries that carry the whole incident.
    """
    document = load(name)
    if incident_id is not None:
        document = _replace_text(document, INCIDENT_ID, incident_id)
    if escalation_policy_id is not None:
        document = _replace_text(document, ESCALATION_POLICY_ID, escalation_policy_id)
    event: dict[str, Any] = document["event"]
    if event_id is not None:
        event["id"] = event_id
    elif incident_id is not None:
        event["id"] = str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"{_stem(name)}:{incident_id}"))
    if agent_user_id is not None:
        event["agent"] = user_reference(agent_user_id)
    if title is not None:
        _set_title(event, title)
    if occurred_at is not None:
        event["occurred_at"] = occurred_at
    full = event["data"].get("type") == "incident"
    if priority is not ... and full:
        event["data"]["priority"] = None if priority is None else _priority_reference(priority)
    if status is not None and full:
        event["data"]["status"] = status
    return json.dumps(document).encode("utf-8")


def _priority_reference(name: str) -> dict[str, str]:
    priority_id = "PPR" + hashlib.sha256(name.encode()).hexdigest()[:4].upper()
    return {
        "html_url": "https://acme.pagerduty.com/account/settings/incidents",
        "id": priority_id,
        "self": f"https://api.pagerduty.com/priorities/{priority_id}",
        "summary": name,
        "type": "priority_reference",
    }


def raw_variant_body(
    name: str = "incident_triggered",
    *,
    incident_id: str | None = None,
    event_id: str | None = None,
) -> bytes:
    """A valid delivery whose bytes differ from ``json.dumps(json.loads(body))``.

    Tabs and CRLF between tokens, raw UTF-8 (``é``) next to ``\\u`` escapes (the em dash) and
    escaped slashes (``\\/``) in every URL: a receiver that verifies a re-serialised body instead
    of the raw one fails on it. The title is ``RAW_VARIANT_TITLE``.
    """
    document = json.loads(delivery(name, incident_id=incident_id, event_id=event_id))
    _set_title(document["event"], RAW_VARIANT_TITLE)
    text = json.dumps(document, indent="\t", ensure_ascii=False)
    # "/" and "—" only ever occur inside JSON strings, where "\/" and "\u2014" are valid escapes
    # for them, and "\n" only between tokens (inside strings it is already escaped).
    text = text.replace("/", "\\/").replace("\u2014", "\\u2014").replace("\n", "\r\n")
    return text.encode("utf-8")


def signed(
    body: bytes,
    secrets: str | Sequence[str],
    *,
    webhook_id: str | None = None,
    subscription_id: str = SUBSCRIPTION_ID,
) -> dict[str, str]:
    """The headers PagerDuty sends with ``body``: one ``v1=`` signature per secret, and the rest.

    ``X-Webhook-Id`` is new each call unless given; pass the same one again to model a retry.
    """
    secret_list = [secrets] if isinstance(secrets, str) else list(secrets)
    signature = ",".join(
        "v1=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        for secret in secret_list
    )
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-PagerDuty-Signature": signature,
        "X-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Webhook-Subscription": subscription_id,
    }


def new_incident_id() -> str:
    """A fresh id in PagerDuty's style (14 upper-case letters and digits starting with Q)."""
    return "Q" + uuid.uuid4().hex[:13].upper()


def user_reference(user_id: str, summary: str | None = None) -> dict[str, str]:
    """A ``user_reference`` as PagerDuty puts it in ``agent`` and ``assignees``."""
    known = USERS.get(user_id)
    return {
        "html_url": f"https://acme.pagerduty.com/users/{user_id}",
        "id": user_id,
        "self": f"https://api.pagerduty.com/users/{user_id}",
        "summary": summary or (known["name"] if known else user_id),
        "type": "user_reference",
    }


def _stem(name: str) -> str:
    stem = name.removesuffix(".json")
    if stem not in FIXTURES:
        raise ValueError(f"unknown PagerDuty fixture {name!r}; known: {', '.join(FIXTURES)}")
    return stem


def _set_title(event: dict[str, Any], title: str) -> None:
    data = event.get("data")
    if not isinstance(data, dict):
        return
    if data.get("type") == "incident":
        data["title"] = title
    elif isinstance(data.get("incident"), dict):
        data["incident"]["summary"] = title


def _replace_text(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replace_text(item, old, new) for item in value]
    if isinstance(value, dict):
        return {key: _replace_text(item, old, new) for key, item in value.items()}
    return value
