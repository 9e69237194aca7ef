"""What an endpoint receives: a Standard Webhooks body, or a Slack Block Kit message.

Both are built once, when the event arrives, and stored with the delivery: every retry sends the
same bytes, and a change to the incident after the event does not rewrite what the event said.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from fireline_notifications.domain.endpoint import Format

_HEADER_LIMIT: Final = 150  # Slack refuses a longer plain_text header
_TEXT_LIMIT: Final = 2900  # and a section text over 3000 characters


@dataclass(frozen=True)
class IncidentSnapshot:
    """What this service knows of an incident, kept from the incidents topic for Slack."""

    incident_id: UUID
    org_id: UUID
    number: int | None = None
    title: str | None = None
    severity: str | None = None
    status: str | None = None
    pagerduty_url: str | None = None

    def merged(self, newer: IncidentSnapshot) -> IncidentSnapshot:
        """This snapshot with every field ``newer`` knows taken from it."""
        known = {k: v for k, v in newer.__dict__.items() if v is not None}
        return replace(self, **known)


@dataclass(frozen=True)
class Notice:
    """One incident event, as the webhook formats need it."""

    event_id: UUID
    org_id: UUID
    incident_id: UUID
    event_type: str
    """The webhook event type, e.g. ``incident.started``."""
    occurred_at: datetime
    data: dict[str, Any]
    """The event's payload as JSON values: the ``data`` of a Standard Webhooks body."""
    summary: str
    """One line for people (Slack)."""
    snapshot: IncidentSnapshot
    """What the event itself says of the incident (None where it says nothing)."""


def standard_body(event_type: str, occurred_at: datetime, data: dict[str, Any]) -> str:
    return json.dumps(
        {"type": event_type, "timestamp": occurred_at.isoformat(), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def slack_body(notice: Notice, incident: IncidentSnapshot, incident_url: str) -> str:
    """A Block Kit message: title, severity, status, the summary and the links."""
    number = f"#{incident.number} " if incident.number is not None else ""
    title = _cut(f"{number}{incident.title or 'Incident'}", _HEADER_LIMIT)
    links = [f"<{incident_url}|Open in Fireline>"]
    if incident.pagerduty_url:
        links.append(f"<{incident.pagerduty_url}|PagerDuty>")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Severity*\n{_escape(incident.severity or '-')}"},
                {"type": "mrkdwn", "text": f"*Status*\n{_escape(incident.status or '-')}"},
            ],
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(_escape(notice.summary))}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]},
    ]
    # `text` is the notification's fallback (and what screen readers say).
    return json.dumps(
        {"text": _cut(f"{title}: {notice.summary}"), "blocks": blocks},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def test_body(format_: Format, endpoint_id: UUID, at: datetime) -> str:
    """What ``POST …/test`` sends."""
    if format_ == "slack":
        text = "Fireline test message: this channel will receive incident notifications."
        return json.dumps(
            {
                "text": text,
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
            }
        )
    return standard_body("webhook.test", at, {"endpoint_id": str(endpoint_id)})


def _escape(text: str) -> str:
    # Slack's mrkdwn control characters; anything else is shown as written.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int = _TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
