"""deploy/prometheus and deploy/grafana: the alert rules pass promtool's checks and their own unit
tests, every alert an operator was promised exists and is tested firing, and the dashboard is one
Grafana loads against the data source compose provisions.

promtool is Debian's ``prometheus`` package (.ci/run installs it); the running-stack half, that
every metric the dashboard queries is exported, is tests/e2e/test_e2e_metrics.py.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import dashboard

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
RULE_TESTS = PROMETHEUS / "alerts.test.yml"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"

# What the issue asks to be paged or warned about, by the rule that does it.
PROMISED_ALERTS = {
    "FirelineWebhook5xx",
    "FirelineOutboxBacklogOld",
    "FirelineConsumerLagHigh",
    "FirelineDeadLetters",
    "FirelineEnrichmentFailing",
    "FirelineSigningKeyRotationOverdue",
    "FirelineNotificationBacklogGrowing",
}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: install the distribution's prometheus package")
    return subprocess.run(
        [promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120, check=False
    )


def _yaml(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_alert_rules_pass_promtool_check() -> None:
    result = _promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_pass_their_unit_tests() -> None:
    result = _promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_promised_alert_exists_and_a_unit_test_sees_it_fire() -> None:
    rules = {r["alert"] for g in _yaml(RULES)["groups"] for r in g["rules"] if "alert" in r}
    assert rules >= PROMISED_ALERTS
    fired = {
        case["alertname"]
        for test in _yaml(RULE_TESTS)["tests"]
        for case in test.get("alert_rule_test", ())
        if case.get("exp_alerts")
    }
    assert fired == rules, f"alerts never seen firing in a unit test: {sorted(rules - fired)}"


def test_every_alert_says_how_bad_and_what_to_do() -> None:
    for group in _yaml(RULES)["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in {"page", "warning", "info"}, rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
            assert rule["annotations"]["description"], rule["alert"]


def test_dashboard_queries_only_the_provisioned_prometheus() -> None:
    loaded = dashboard.load()
    (source,) = _yaml(DATASOURCES)["datasources"]
    panels = [p for p in loaded["panels"] if p["type"] != "row"]
    assert panels
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in [panel, *panel["targets"]]:
            assert target["datasource"] == {"type": "prometheus", "uid": source["uid"]}


def test_dashboard_panels_have_unique_ids_and_a_description() -> None:
    panels = dashboard.load()["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    assert all(p.get("description") for p in panels if p["type"] != "row")


def test_dashboard_covers_every_question_the_issue_asks() -> None:
    asked = {
        "fireline_webhook_deliveries_total",
        "fireline_event_end_to_end_seconds_bucket",
        "fireline_outbox_pending",
        "fireline_outbox_oldest_pending_age_seconds",
        "fireline_kafka_consumer_lag",
        "fireline_events_dead_lettered_total",
        "fireline_enrichments_total",
        "fireline_pagerduty_requests_total",
        "fireline_token_exchanges_total",
        "fireline_orgs_by_active_keys",
        "fireline_api_keys_limit",
        "fireline_signing_key_age_seconds",
        "fireline_notification_attempts_total",
        "fireline_notification_backlog",
        "fireline_notification_oldest_pending_age_seconds",
    }
    assert asked <= dashboard.queried_metrics()
