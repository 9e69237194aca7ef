"""One PagerDuty incident's whole life, end to end: every delivery signed and shaped as PagerDuty
sends it, the Fireline incident's final state and its timeline read through the public API.

The deliveries of the acceptance sequence go in order for one PagerDuty incident and shuffled for
another; both must end in the same state with the same timeline. Of the timeline only the
``started`` entry may read differently: it names the event that happened to arrive first.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from support import pagerduty_fixtures as pd
from support.e2e_org import Org, open_org
from support.stack import Stack

pytestmark = pytest.mark.e2e

START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture(scope="module")
def org(stack: Stack) -> Iterator[Org]:
    with open_org(stack) as opened:
        yield opened


@dataclass(frozen=True)
class Step:
    fixture: str
    minute: float
    status: str | None = None
    priority: str | None = "P1"


# The acceptance sequence. The trigger has no priority yet; priority_updated sets P1, and every
# later snapshot carries it. Statuses are set where the fixture's own would not fit this story.
LIFE = (
    Step("incident_triggered", 0, priority=None),
    Step("incident_annotated", 1),
    Step("incident_priority_updated", 2, status="triggered"),
    Step("incident_workflow_started", 2.5),
    Step("incident_acknowledged", 3),
    Step("incident_unacknowledged", 4, status="triggered"),
    Step("incident_escalated", 5, status="triggered"),
    Step("incident_reassigned", 6, status="triggered"),
    Step("incident_acknowledged", 7),
    Step("incident_status_update_published", 8),
    Step("incident_resolved", 9),
    Step("incident_reopened", 10, status="triggered"),
    Step("incident_resolved", 11),
)
OTHER_DELIVERIES = ("pagey_ping_user", "service_created")
EXPECTED_ENTRIES = 1 + len(LIFE)  # the started entry, then one per PagerDuty event


def at(minute: float) -> datetime:
    return START + timedelta(minutes=minute)


def bodies(incident_id: str) -> list[bytes]:
    return [
        pd.delivery(
            step.fixture,
            incident_id=incident_id,
            event_id=f"{incident_id}-{index:02d}",
            occurred_at=at(step.minute).isoformat().replace("+00:00", "Z"),
            priority=step.priority,
            status=step.status,
        )
        for index, step in enumerate(LIFE)
    ] + [pd.delivery(name) for name in OTHER_DELIVERIES]


def deliver_all(org: Org, integration: dict[str, Any], deliveries: list[tuple[str, bytes]]) -> None:
    for webhook_id, body in deliveries:
        response = org.deliver(integration, body, webhook_id=webhook_id)
        assert 200 <= response.status_code < 300, response.text


def wait_timeline(org: Org, incident_id: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    entries: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = org.incidents(external_id=incident_id)
        if found:
            entries = org.timeline(found[0]["id"])
            if len(entries) >= count:
                return entries
        time.sleep(0.1)
    raise AssertionError(f"timeline of {incident_id} never reached {count}: {entries}")


def comparable(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    # Event ids embed the PagerDuty incident id, which differs between the two incidents.
    return [
        (e["kind"], e["occurred_at"], e["actor"], e["source"], e["summary"], e["text"])
        for e in entries
        if e["kind"] != "started"
    ]


def test_a_whole_life_in_order_then_shuffled_ends_the_same(org: Org) -> None:
    integration = org.integration()
    in_order_id, shuffled_id = pd.new_incident_id(), pd.new_incident_id()
    in_order = [(str(uuid.uuid4()), body) for body in bodies(in_order_id)]

    deliver_all(org, integration, in_order)
    entries = wait_timeline(org, in_order_id, EXPECTED_ENTRIES)
    incident = org.wait_incident(in_order_id, status="resolved")

    assert incident["severity"] == "SEV1", "P1 through the integration's default map"
    assert incident["reopen_count"] == 1
    assert datetime.fromisoformat(incident["resolved_at"]) == at(11)
    assert datetime.fromisoformat(incident["acknowledged_at"]) == at(3)
    assert datetime.fromisoformat(incident["created_at"]) == at(0)
    assert incident["assignees"] == []
    assert [(e["kind"], e["actor"]["name"]) for e in entries] == [
        ("started", None),
        ("status_changed", "Ada Lovelace"),  # the fixture's trigger was by a person
        ("note", "Grace Hopper"),
        ("severity_changed", "Ada Lovelace"),
        ("workflow", "Ada Lovelace"),
        ("status_changed", "Grace Hopper"),
        ("status_changed", "Grace Hopper"),
        ("assignment_changed", "Grace Hopper"),
        ("assignment_changed", "Grace Hopper"),
        ("status_changed", "Grace Hopper"),
        ("status_update", "Ada Lovelace"),
        ("status_changed", "Grace Hopper"),
        ("status_changed", "Ada Lovelace"),
        ("status_changed", "Grace Hopper"),
    ]
    assert [datetime.fromisoformat(e["occurred_at"]) for e in entries] == [at(0)] + [
        at(step.minute) for step in LIFE
    ]
    assert all(e["source"] == "pagerduty" for e in entries)
    assert [e["source_event_id"] for e in entries[1:]] == [
        f"{in_order_id}-{i:02d}" for i in range(len(LIFE))
    ]
    note, update = entries[2], entries[10]
    assert note["text"] == pd.load("incident_annotated")["event"]["data"]["content"]
    assert update["text"] == pd.load("incident_status_update_published")["event"]["data"]["message"]
    assert entries[3]["summary"] == "Priority set to P1 (severity SEV1) by Ada Lovelace"
    assert "no creator" in entries[0]["summary"]

    # Re-sending every delivery changes nothing: under the same X-Webhook-Id ingest answers
    # duplicate; under new ones the incidents service finds each PagerDuty event id again.
    deliver_all(org, integration, in_order)
    deliver_all(org, integration, [(str(uuid.uuid4()), body) for _, body in in_order])
    # Positive signal: a new note sent last reaches the timeline only after every re-sent
    # delivery of the incident has been published and consumed (one incident, one order).
    marker = pd.delivery(
        "incident_annotated",
        incident_id=in_order_id,
        event_id=f"{in_order_id}-marker",
        occurred_at=at(12).isoformat(),
    )
    deliver_all(org, integration, [(str(uuid.uuid4()), marker)])
    after = wait_timeline(org, in_order_id, EXPECTED_ENTRIES + 1)
    assert len(after) == EXPECTED_ENTRIES + 1
    assert after[:-1] == entries
    assert org.incidents(external_id=in_order_id) == [incident]

    # The same deliveries, shuffled, for another PagerDuty incident.
    shuffled = [(str(uuid.uuid4()), body) for body in bodies(shuffled_id)]
    random.Random(13).shuffle(shuffled)
    deliver_all(org, integration, shuffled)
    shuffled_entries = wait_timeline(org, shuffled_id, EXPECTED_ENTRIES)
    final = org.wait_incident(shuffled_id, status="resolved")

    different = {"id", "number", "source", "updated_at"}
    assert {k: v for k, v in final.items() if k not in different} == {
        k: v for k, v in incident.items() if k not in different
    }
    assert comparable(shuffled_entries) == comparable(entries)
    assert shuffled_entries[0]["kind"] == "started"
    assert shuffled_entries[0]["occurred_at"] == entries[0]["occurred_at"]


def test_notes_and_changes_through_the_api_land_on_the_timeline(org: Org) -> None:
    integration = org.integration()
    incident_id = pd.new_incident_id()
    org.deliver(integration, pd.delivery("incident_triggered", incident_id=incident_id))
    incident = org.wait_incident(incident_id)
    path = f"/v1/incidents/{incident['id']}"

    note = org.incidents_api("POST", f"{path}/timeline", 201, json={"text": "Paged the DBA."})
    org.incidents_api("PATCH", path, 200, json={"severity": "SEV2", "status": "acknowledged"})

    entries = org.timeline(incident["id"])
    assert [(e["kind"], e["source"]) for e in entries[-3:]] == [
        ("note", "api"),
        ("status_changed", "api"),
        ("severity_changed", "api"),
    ]
    assert note["text"] == "Paged the DBA."
    assert note["actor"]["kind"] == "api_key"
