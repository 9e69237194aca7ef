"""Signed deliveries downstream could not store are refused with a 400 before any 202.

The reproductions of what was once a 202 followed by a dead letter (an id too long for the
btree indexes of deliveries and incidents) or a 500 (a date at the edge of the calendar, arrays
nested hundreds deep); at the limits themselves the delivery becomes its alert.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from fireline_contracts import AlertActivity, AlertTriggered
from fireline_contracts.bounds import MAX_EXTERNAL_ID_LENGTH, MAX_JSON_DEPTH
from integration.ingest.ingest_harness import IngestApp
from support.pagerduty_fixtures import delivery, new_incident_id, signed
from support.token_issuer import TokenIssuer

pytestmark = pytest.mark.integration

SECRET = "pagerduty-signing-secret-bounds"
TOO_LONG = 2_700  # past what a btree index entry holds (about 2,700 bytes)


_NESTED = "nested arrays go here"


def _nested(depth: int) -> str:
    """A placeholder ``_edit`` replaces with ``depth`` nested arrays (json.dumps cannot write
    thousands of levels, and PagerDuty's sender need not be Python)."""
    return f"{_NESTED} {depth}"


def _edit(name: str, incident_id: str, change: Callable[[dict[str, Any]], None]) -> bytes:
    document = json.loads(delivery(name, incident_id=incident_id))
    change(document["event"])
    text = json.dumps(document)
    for depth in range(1, 10_000):
        text = text.replace(json.dumps(_nested(depth)), "[" * depth + "]" * depth)
        if _NESTED not in text:
            break
    return text.encode()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = event
        for parent in parents:
            target = target[parent]
        target[last] = value

    return change


REFUSED = {
    "event id": ("incident_triggered", _set("id", "E" * TOO_LONG), "event.id"),
    "incident id": ("incident_triggered", _set("data.id", "Q" * TOO_LONG), "event.data.id"),
    "note's event id": ("incident_annotated", _set("id", "N" * TOO_LONG), "event.id"),
    "referenced incident id": (
        "incident_annotated",
        _set("data.incident.id", "Q" * TOO_LONG),
        "event.data.incident.id",
    ),
    "agent id": ("incident_triggered", _set("agent.id", "P" * TOO_LONG), "event.agent.id"),
    "year 1": ("incident_triggered", _set("occurred_at", "0001-01-01T00:00:00+01:00"), "occurred"),
    "year 9999": (
        "incident_triggered",
        _set("occurred_at", "9999-12-31T23:59:59-01:00"),
        "occurred",
    ),
    "500-deep array": ("incident_triggered", _set("data.extra", _nested(500)), "nests"),
    "5,000-deep array": ("incident_triggered", _set("data.extra", _nested(5_000)), "nests"),
}


@pytest.fixture
async def integration_id(svc: IngestApp, issuer: TokenIssuer) -> str:
    created = await svc.create_integration(
        issuer.token(org_id=uuid.uuid4()), signing_secrets=[SECRET]
    )
    return str(created["id"])


@pytest.mark.parametrize("with_webhook_id", [True, False], ids=["X-Webhook-Id", "no X-Webhook-Id"])
@pytest.mark.parametrize("case", list(REFUSED))
async def test_what_downstream_cannot_store_is_a_400_and_stores_nothing(
    svc: IngestApp, integration_id: str, case: str, with_webhook_id: bool
) -> None:
    name, change, named = REFUSED[case]
    body = _edit(name, new_incident_id(), change)
    headers = signed(body, SECRET)
    if not with_webhook_id:
        headers.pop("X-Webhook-Id")

    refused = await svc.deliver(integration_id, body, headers)

    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["code"] == "malformed_delivery"
    assert named in problem["detail"]
    # A good delivery after it is stored: the positive signal that the refused one was not.
    good = delivery("incident_triggered", incident_id=new_incident_id())
    assert (await svc.deliver(integration_id, good, signed(good, SECRET))).status_code == 202
    assert [bytes(row["body"]) for row in await svc.deliveries()] == [good]


async def test_ids_and_nesting_at_the_limits_become_their_alerts(
    svc: IngestApp, integration_id: str
) -> None:
    incident = "Q" * MAX_EXTERNAL_ID_LENGTH
    event_id = "E" * MAX_EXTERNAL_ID_LENGTH

    def at_the_limits(event: dict[str, Any]) -> None:
        event["id"] = event_id
        # The envelope, "event" and "data" are three levels; "extra" fills the rest.
        event["data"]["extra"] = _nested(MAX_JSON_DEPTH - 3)
        event["occurred_at"] = "9999-12-29T22:00:00-01:00"

    trigger = _edit("incident_triggered", incident, at_the_limits)
    note = _edit("incident_annotated", incident, _set("id", "N" * MAX_EXTERNAL_ID_LENGTH))
    for body in (trigger, note):
        headers = signed(body, SECRET)
        headers.pop("X-Webhook-Id")  # the long event id is the dedupe key
        response = await svc.deliver(integration_id, body, headers)
        assert response.status_code == 202, response.text

    assert await svc.settled()
    triggered, activity = await svc.alerts(until=2)
    assert isinstance(triggered, AlertTriggered)
    assert triggered.payload.external_id == incident
    assert triggered.payload.pagerduty_event_id == event_id
    assert isinstance(activity, AlertActivity)
    assert activity.payload.pagerduty_event_id == "N" * MAX_EXTERNAL_ID_LENGTH
