"""Severity and incident type of an alert: the webhook URL's query overrides the integration.

Blameless configures its PagerDuty webhook URL with ``?incident_type=..&severity=..``, so one
integration can serve several PagerDuty services with different defaults; Fireline honours the
same parameters. A parameter that is absent or blank falls back to the integration's default.
"""

from __future__ import annotations

from dataclasses import dataclass

from fireline_pagerduty_ingest.domain.errors import InvalidWebhookQuery
from fireline_pagerduty_ingest.domain.integration import MAX_LABEL_LENGTH


@dataclass(frozen=True)
class Classification:
    """What Fireline calls the alert; None means "let the incidents service decide"."""

    incident_type: str | None
    severity: str | None


def classify(
    *,
    query_incident_type: str | None,
    query_severity: str | None,
    default_incident_type: str | None,
    default_severity: str | None,
) -> Classification:
    """The alert's classification: each query parameter, when given, wins over the default."""
    return Classification(
        incident_type=_from_query(query_incident_type, "incident_type") or default_incident_type,
        severity=_from_query(query_severity, "severity") or default_severity,
    )


def _from_query(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    cleaned = value.strip()
    if len(cleaned) > MAX_LABEL_LENGTH:
        # Refused rather than cut: a truncated label would silently file the alert under a
        # type or severity nobody configured.
        raise InvalidWebhookQuery(
            f"the {name} query parameter must be at most {MAX_LABEL_LENGTH} characters"
        )
    return cleaned or None
