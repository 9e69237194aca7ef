"""The ingest service's own Prometheus metrics, on its runtime's registry (see bootstrap)."""

from __future__ import annotations

from prometheus_client import Counter

from fireline_pagerduty_ingest.domain.sync import OUTCOMES
from fireline_runtime.service import ServiceRuntime

WEBHOOK_ROUTE = "/webhooks/pagerduty/{integration_id}"

ENRICHMENT_STATUSES = ("complete", "partial", "failed", "skipped")
SYNC_ACTIONS = ("acknowledge", "resolve", "note")
PAGERDUTY_OUTCOMES = ("ok", "not_found", "rate_limited", "http_error", "timeout", "failed")


class IngestMetrics:
    def __init__(self, runtime: ServiceRuntime) -> None:
        registry = runtime.metrics.registry
        self.webhook_deliveries = Counter(
            "fireline_webhook_deliveries",
            "PagerDuty webhook deliveries by outcome: accepted, duplicate, the problem code of a "
            "refusal (4xx: PagerDuty drops the delivery) or of a 5xx (PagerDuty retries, then "
            "disables the subscription), and the HTTP status answered.",
            ["outcome", "status"],
            registry=registry,
        )
        # Exported at 0 from the start so that rate() and increase() see the first delivery.
        runtime.count_outcomes(
            WEBHOOK_ROUTE,
            self.webhook_deliveries,
            initial=[("accepted", "202"), ("duplicate", "200"), ("error", "500")],
        )
        self.enrichments = Counter(
            "fireline_enrichments",
            "Deliveries enriched from PagerDuty's REST API, by the enrichment's status.",
            ["status"],
            registry=registry,
        )
        self.pagerduty_requests = Counter(
            "fireline_pagerduty_requests",
            "Calls to PagerDuty's REST API by outcome (rate_limited: answered 429).",
            ["outcome"],
            registry=registry,
        )
        self.sync_attempts = Counter(
            "fireline_pagerduty_sync_attempts",
            "Calls to PagerDuty's REST API mirroring a change made in Fireline (action: "
            "acknowledge, resolve, note), by outcome: succeeded, rate_limited (429), retrying "
            "(5xx or no answer), refused (a 4xx that will never succeed, or sync turned off), "
            "failed (retries used up).",
            ["action", "outcome"],
            registry=registry,
        )
        for action in SYNC_ACTIONS:
            for sync_outcome in OUTCOMES:
                self.sync_attempts.labels(action, sync_outcome)
        for status in ENRICHMENT_STATUSES:
            self.enrichments.labels(status)
        for outcome in PAGERDUTY_OUTCOMES:
            self.pagerduty_requests.labels(outcome)

    def enriched(self, status: str) -> None:
        self.enrichments.labels(status).inc()

    def synced(self, action: str, outcome: str) -> None:
        self.sync_attempts.labels(action, outcome).inc()

    def pagerduty_answered(self, outcome: str) -> None:
        self.pagerduty_requests.labels(outcome).inc()
