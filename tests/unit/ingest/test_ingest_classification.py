"""The webhook URL's query parameters override the integration's defaults (Blameless-style)."""

from __future__ import annotations

import pytest

from fireline_pagerduty_ingest.domain.classification import Classification, classify
from fireline_pagerduty_ingest.domain.errors import InvalidWebhookQuery


def test_without_query_parameters_the_integration_defaults_apply() -> None:
    result = classify(
        query_incident_type=None,
        query_severity=None,
        default_incident_type="Outage",
        default_severity="SEV2",
    )

    assert result == Classification(incident_type="Outage", severity="SEV2")


def test_query_parameters_win_over_the_defaults() -> None:
    result = classify(
        query_incident_type="Security",
        query_severity="SEV1",
        default_incident_type="Outage",
        default_severity="SEV2",
    )

    assert result == Classification(incident_type="Security", severity="SEV1")


def test_each_parameter_overrides_independently() -> None:
    result = classify(
        query_incident_type=None,
        query_severity="SEV1",
        default_incident_type="Outage",
        default_severity="SEV2",
    )

    assert result == Classification(incident_type="Outage", severity="SEV1")


def test_blank_parameters_fall_back_to_the_defaults() -> None:
    result = classify(
        query_incident_type="  ",
        query_severity="",
        default_incident_type="Outage",
        default_severity=None,
    )

    assert result == Classification(incident_type="Outage", severity=None)


def test_parameters_are_trimmed_and_work_without_defaults() -> None:
    result = classify(
        query_incident_type=" Security ",
        query_severity=" SEV3",
        default_incident_type=None,
        default_severity=None,
    )

    assert result == Classification(incident_type="Security", severity="SEV3")


def test_an_overlong_parameter_is_refused_rather_than_cut() -> None:
    with pytest.raises(InvalidWebhookQuery, match="severity"):
        classify(
            query_incident_type=None,
            query_severity="S" * 101,
            default_incident_type=None,
            default_severity=None,
        )
