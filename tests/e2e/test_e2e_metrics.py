"""Issue 15: every metric the Grafana dashboard queries is exported by a running stack.

The stack is driven the way operators' questions arise (a token exchange, a PagerDuty delivery
that starts an incident, a key revoked) and then each process's /metrics is scraped and parsed as
Prometheus parses it. A dashboard panel on a series nobody exports would stay empty exactly when
someone needs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from fireline_contracts import ALERTS, topic_name
from support import dashboard
from support import pagerduty_fixtures as pd
from support.e2e_org import Org, open_org
from support.stack import Stack
from support.waiting import wait_for
from support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e


def _scrape(stack: Stack) -> Iterator[tuple[str, Sample]]:
    for name in stack.processes:
        r = httpx.get(f"{stack.url(name)}/metrics", timeout=10)
        assert r.status_code == 200, r.text
        for family in text_string_to_metric_families(r.text):
            for sample in family.samples:
                yield name, sample


def _find(stack: Stack, service: str, name: str, **labels: str) -> list[Sample]:
    return [
        s
        for process, s in _scrape(stack)
        if process == service
        and s.name == name
        and all(s.labels.get(k) == v for k, v in labels.items())
    ]


def _a_failing_webhook_endpoint(org: Org, receiver: WebhookReceiver) -> str:
    """An endpoint that has been sent one attempt and asked for the next in an hour (429 with
    Retry-After): its delivery stays pending while the test scrapes."""
    receiver.answer("/metrics-probe", then=429, retry_after="3600")
    hooks = f"{org.stack.url('notifications')}/v1/webhook-endpoints"
    created = httpx.post(
        hooks, json={"url": receiver.url("/metrics-probe")}, headers=org.auth_headers, timeout=10
    )
    assert created.status_code == 201, created.text
    endpoint_id: str = created.json()["id"]
    sent = httpx.post(f"{hooks}/{endpoint_id}/test", headers=org.auth_headers, timeout=10)
    assert sent.status_code == 202, sent.text
    receiver.wait("/metrics-probe", 1)
    return endpoint_id


def test_every_metric_the_dashboard_queries_is_exported(stack: Stack) -> None:
    with open_org(stack) as org, WebhookReceiver() as receiver:
        endpoint_id = _a_failing_webhook_endpoint(org, receiver)
        integration = org.integration()
        incident_id = pd.new_incident_id()
        r = org.deliver(integration, pd.delivery("incident_triggered", incident_id=incident_id))
        assert r.status_code == 202, r.text
        org.wait_incident(incident_id)
        probe = org.identity.post("/v1/api-keys", json={"name": "revocation probe"}).json()
        assert org.identity.delete(f"/v1/api-keys/{probe['id']}").status_code == 204
        # Checked while the org's own key is still active (open_org revokes it at the end).

        # The revocation reaches the incidents service through Kafka; its delay is then measured.
        def measured(event_type: str) -> float:
            """Events of this type whose end-to-end delay the incidents service measured."""
            found = _find(
                stack, "incidents", "fireline_event_end_to_end_seconds_count", event_type=event_type
            )
            return sum(sample.value for sample in found)

        async def revocation_measured() -> bool:
            return measured("KeyRevoked") > 0

        assert asyncio.run(wait_for(revocation_measured, timeout=30))

        exported = {sample.name for _, sample in _scrape(stack)}
        # `up` is recorded by Prometheus itself for every target it scrapes.
        missing = dashboard.queried_metrics() - {"up"} - exported
        assert not missing, f"the dashboard queries series no service exports: {sorted(missing)}"

        # And they carry what the panels show, not only zeros.
        (accepted,) = _find(
            stack, "pagerduty-ingest", "fireline_webhook_deliveries_total", outcome="accepted"
        )
        assert accepted.value >= 1
        assert _find(stack, "auth", "fireline_token_exchanges_total", outcome="ok")[0].value >= 1
        # The integration has no PagerDuty API token: nothing to look up, the alert goes as is.
        (skipped,) = _find(
            stack, "pagerduty-ingest", "fireline_enrichments_total", status="skipped"
        )
        assert skipped.value >= 1
        assert measured("AlertTriggered") >= 1  # delivery to incident
        alerts_topic = topic_name(ALERTS, stack.topic_prefix)
        assert _find(stack, "incidents", "fireline_kafka_consumer_lag", topic=alerts_topic)
        (limit,) = _find(stack, "identity", "fireline_api_keys_limit")
        by_keys = _find(stack, "identity", "fireline_orgs_by_active_keys")
        # One series per possible count, none per org; the stack's org has at least one key.
        assert sorted(int(s.labels["active_keys"]) for s in by_keys) == list(
            range(1, int(limit.value) + 1)
        )
        assert sum(s.value for s in by_keys) >= 1
        assert all("org_id" not in s.labels for s in by_keys)
        (age,) = _find(stack, "auth", "fireline_signing_key_age_seconds")
        (period,) = _find(stack, "auth", "fireline_signing_key_rotation_period_seconds")
        assert 0 <= age.value < period.value
        (waiting,) = _find(
            stack,
            "notifications",
            "fireline_notification_oldest_pending_age_seconds",
            endpoint_id=endpoint_id,
        )
        assert waiting.value >= 0
        assert _find(stack, "notifications", "fireline_notification_backlog")[0].value >= 1
        limited = _find(
            stack, "notifications", "fireline_notification_attempts_total", outcome="rate_limited"
        )
        assert limited[0].value >= 1
        hooks = f"{stack.url('notifications')}/v1/webhook-endpoints"
        httpx.delete(f"{hooks}/{endpoint_id}", headers=org.auth_headers, timeout=10)
