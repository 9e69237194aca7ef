"""What endpoints receive: the event types, the Standard Webhooks body and the Slack message."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from fireline_contracts import INCIDENTS
from fireline_notifications.domain import catalogue
from fireline_notifications.domain.message import (
    IncidentSnapshot,
    Notice,
    slack_body,
    standard_body,
)

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_there_is_one_event_type_per_incident_event_named_after_it() -> None:
    assert catalogue.webhook_type("IncidentStatusChanged") == "incident.status_changed"
    assert catalogue.webhook_type("IncidentTimelineEntryAdded") == "incident.timeline_entry_added"
    assert len(catalogue.EVENT_TYPES) == len(INCIDENTS.events)
    assert {"incident.started", "incident.severity_changed", "incident.assignment_changed"} <= set(
        catalogue.EVENT_TYPES
    )


def test_the_standard_body_is_type_timestamp_and_data() -> None:
    body = json.loads(standard_body("incident.started", AT, {"title": "Disk full"}))

    assert body == {
        "type": "incident.started",
        "timestamp": "2026-03-01T12:00:00+00:00",
        "data": {"title": "Disk full"},
    }


def _notice(summary: str) -> Notice:
    incident = uuid.uuid4()
    org = uuid.uuid4()
    return Notice(
        event_id=uuid.uuid4(),
        org_id=org,
        incident_id=incident,
        event_type="incident.status_changed",
        occurred_at=AT,
        data={},
        summary=summary,
        snapshot=IncidentSnapshot(incident, org, status="acknowledged"),
    )


def test_the_slack_message_has_title_severity_status_and_both_links() -> None:
    notice = _notice("Status changed from triggered to acknowledged")
    incident = IncidentSnapshot(
        notice.incident_id,
        notice.org_id,
        number=42,
        title="Checkout <down> & out",
        severity="SEV1",
        status="acknowledged",
        pagerduty_url="https://acme.pagerduty.com/incidents/P1",
    )

    message = json.loads(slack_body(notice, incident, "https://fireline.example/i/1"))

    header, fields, summary, links = message["blocks"]
    assert header["text"] == {"type": "plain_text", "text": "#42 Checkout <down> & out"}
    assert [f["text"] for f in fields["fields"]] == ["*Severity*\nSEV1", "*Status*\nacknowledged"]
    assert summary["text"]["text"] == "Status changed from triggered to acknowledged"
    assert links["elements"][0]["text"] == (
        "<https://fireline.example/i/1|Open in Fireline> · "
        "<https://acme.pagerduty.com/incidents/P1|PagerDuty>"
    )
    assert message["text"].startswith("#42 Checkout")


def test_slack_control_characters_are_escaped_and_long_titles_cut() -> None:
    notice = _notice("a <!channel> & b")
    incident = IncidentSnapshot(notice.incident_id, notice.org_id, title="x" * 400)

    message = json.loads(slack_body(notice, incident, "https://fireline.example/i/1"))

    assert message["blocks"][2]["text"]["text"] == "a &lt;!channel&gt; &amp; b"
    assert len(message["blocks"][0]["text"]["text"]) == 150


def test_what_an_event_says_of_an_incident_overrides_what_was_known() -> None:
    incident, org = uuid.uuid4(), uuid.uuid4()
    known = IncidentSnapshot(
        incident, org, number=3, title="Old", severity="SEV3", status="triggered"
    )

    merged = known.merged(IncidentSnapshot(incident, org, severity="SEV1"))

    assert merged == IncidentSnapshot(
        incident, org, number=3, title="Old", severity="SEV1", status="triggered"
    )
