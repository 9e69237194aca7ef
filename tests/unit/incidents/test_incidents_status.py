"""Incident status rules, defaults and titles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from fireline_incidents.domain.errors import InvalidIncident
from fireline_incidents.domain.model import (
    DEFAULT_INCIDENT_TYPE,
    DEFAULT_SEVERITY,
    Incident,
    Source,
    Status,
    alert_title,
    change_status,
    clean_title,
    incident_type_or_default,
    severity_or_default,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=3)
T2 = T0 + timedelta(minutes=9)
NOW = T0 + timedelta(hours=1)


def incident(status: Status = "triggered", **fields: object) -> Incident:
    base: dict[str, object] = {
        "id": uuid4(),
        "org_id": uuid4(),
        "number": 1,
        "title": "Checkout is down",
        "status": status,
        "severity": "SEV2",
        "incident_type": "Default",
        "creator_id": None,
        "source": Source(kind="pagerduty", external_id="PT4KHLK"),
        "created_at": T0,
        "acknowledged_at": None,
        "resolved_at": None,
        "updated_at": T0,
    }
    base.update(fields)
    return Incident(**base)  # type: ignore[arg-type]


def test_acknowledging_records_when_and_what_it_was_before() -> None:
    change = change_status(incident(), "acknowledged", at=T1, recorded_at=NOW)

    assert change is not None
    assert change.previous_status == "triggered"
    assert change.changed_at == T1
    assert change.incident.status == "acknowledged"
    assert change.incident.acknowledged_at == T1
    assert change.incident.resolved_at is None
    assert change.incident.updated_at == NOW


def test_resolving_sets_resolved_at_and_keeps_the_first_acknowledgement() -> None:
    acknowledged = incident("acknowledged", acknowledged_at=T1)

    change = change_status(acknowledged, "resolved", at=T2, recorded_at=NOW)

    assert change is not None
    assert change.incident.status == "resolved"
    assert change.incident.resolved_at == T2
    assert change.incident.acknowledged_at == T1


def test_resolving_straight_from_triggered_leaves_acknowledged_at_empty() -> None:
    change = change_status(incident(), "resolved", at=T2, recorded_at=NOW)

    assert change is not None
    assert change.incident.acknowledged_at is None
    assert change.incident.resolved_at == T2


def test_reopening_a_resolved_incident_clears_resolved_at() -> None:
    resolved = incident("resolved", acknowledged_at=T1, resolved_at=T2)

    change = change_status(resolved, "triggered", at=NOW, recorded_at=NOW)

    assert change is not None
    assert change.incident.status == "triggered"
    assert change.incident.resolved_at is None
    assert change.incident.acknowledged_at == T1


def test_acknowledging_again_keeps_the_first_acknowledgement_time() -> None:
    acknowledged = incident("acknowledged", acknowledged_at=T1)
    untouched = change_status(acknowledged, "triggered", at=T2, recorded_at=NOW)
    assert untouched is not None

    again = change_status(untouched.incident, "acknowledged", at=NOW, recorded_at=NOW)

    assert again is not None
    assert again.incident.acknowledged_at == T1


@pytest.mark.parametrize("status", ["triggered", "acknowledged", "resolved"])
def test_setting_the_current_status_is_no_change(status: Status) -> None:
    assert change_status(incident(status), status, at=T1, recorded_at=NOW) is None


@pytest.mark.parametrize("absent", [None, "", "   "])
def test_severity_and_type_default_when_the_alert_does_not_say(absent: str | None) -> None:
    assert severity_or_default(absent) == DEFAULT_SEVERITY == "SEV3"
    assert incident_type_or_default(absent) == DEFAULT_INCIDENT_TYPE == "Default"


def test_given_severity_and_type_are_kept_trimmed() -> None:
    assert severity_or_default(" SEV1 ") == "SEV1"
    assert incident_type_or_default("Security") == "Security"


def test_an_alert_without_a_title_is_named_after_its_id() -> None:
    assert alert_title("  ", source="pagerduty", external_id="PT4KHLK") == (
        "pagerduty incident PT4KHLK"
    )
    assert alert_title(" Disk full ", source="pagerduty", external_id="X") == "Disk full"


@pytest.mark.parametrize("title", ["", "   ", "x" * 501])
def test_a_manual_incident_needs_a_sensible_title(title: str) -> None:
    with pytest.raises(InvalidIncident):
        clean_title(title)
