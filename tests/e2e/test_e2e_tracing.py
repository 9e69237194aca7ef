"""Issue 15: one PagerDuty delivery is one trace, from the webhook to the incident's own event.

The four services run as processes with tracing turned on the way a deployment turns it on (the
standard ``OTEL_*`` variables and the OTLP exporter), exporting to a receiver on loopback. The
trace crosses two stored rows (the delivery the worker picks up, the outbox rows the relays send)
and two Kafka hops, so every hop that could drop the context is on the path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from fireline_contracts import INCIDENTS, topic_name
from fireline_devtools.postgres import Postgres
from support import infra
from support import pagerduty_fixtures as pd
from support.e2e_org import Org, open_org
from support.fake_pagerduty import DEFAULT_TOKEN, FakePagerDuty, OnCall
from support.otlp import Receiver, Span, receiving
from support.stack import Stack, running_stack

pytestmark = pytest.mark.e2e

WEBHOOK_ROUTE = "/webhooks/pagerduty/{integration_id}"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


@pytest.fixture(scope="module")
def traced_stack(
    postgres: Postgres, kafka_broker: infra.Broker, receiver: Receiver
) -> Iterator[Stack]:
    tracing_env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        # Export within a fraction of a second rather than the default 5 s batch delay.
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with running_stack(postgres, kafka_broker, common_env=tracing_env) as stack:
        yield stack


@pytest.fixture(scope="module")
def org(traced_stack: Stack) -> Iterator[Org]:
    with open_org(traced_stack) as opened:
        yield opened


@pytest.fixture(scope="module")
def pagerduty() -> Iterator[FakePagerDuty]:
    users = {pd.TRIGGERING_USER_ID: {"email": "agent@example.com", "name": "Agent"}}
    fake = FakePagerDuty(
        users=users, oncalls={pd.ESCALATION_POLICY_ID: [OnCall(pd.TRIGGERING_USER_ID, 1)]}
    ).start()
    yield fake
    fake.stop()


def test_one_delivery_is_one_trace_from_the_webhook_to_the_incidents_event(
    org: Org, pagerduty: FakePagerDuty, receiver: Receiver, traced_stack: Stack
) -> None:
    integration = org.integration(
        pagerduty_api_token=DEFAULT_TOKEN, pagerduty_api_url=pagerduty.url
    )
    incident_id = pd.new_incident_id()
    r = org.deliver(integration, pd.delivery("incident_triggered", incident_id=incident_id))
    assert r.status_code == 202, r.text
    org.wait_incident(incident_id)

    # The webhook's correlation id is its trace id: what an operator copies from a log line or
    # from the response header is what the tracing backend finds the trace by.
    trace_id = r.headers["X-Correlation-ID"]
    incidents_topic = topic_name(INCIDENTS, traced_stack.topic_prefix)

    def complete(spans: list[Span]) -> bool:
        # Each service exports its spans in batches of its own, so the incidents event's span can
        # arrive before the ingest relay's that caused it: wait for every span asserted below.
        mine = [s for s in spans if s.trace_id == trace_id]
        return all(
            any(s.service == service and s.kind == kind for s in mine)
            for service, kind in (
                ("fireline-pagerduty-ingest", "SERVER"),
                ("fireline-pagerduty-ingest", "PRODUCER"),
                ("fireline-incidents", "CONSUMER"),
            )
        ) and any(
            s.service == "fireline-incidents"
            and s.kind == "PRODUCER"
            and s.attributes.get("messaging.destination.name") == incidents_topic
            for s in mine
        )

    spans = [s for s in receiver.wait_for(complete) if s.trace_id == trace_id]
    by_id = {s.span_id: s for s in spans}

    def one(service: str, kind: str, **attributes: str) -> Span:
        found = [
            s
            for s in spans
            if s.service == service
            and s.kind == kind
            and all(s.attributes.get(k) == v for k, v in attributes.items())
        ]
        seen = [(s.name, s.attributes) for s in spans if s.service == service and s.kind == kind]
        assert found, f"no {kind} span of {service} with {attributes} in the trace: {seen}"
        return found[0]

    def ancestors(span: Span) -> list[Span]:
        chain = []
        while span.parent_id is not None:
            assert span.parent_id in by_id, f"{span.name}'s parent is not in the trace"
            span = by_id[span.parent_id]
            chain.append(span)
        return chain

    request = one("fireline-pagerduty-ingest", "SERVER", **{"http.route": WEBHOOK_ROUTE})
    # The HTTP client conventions name the URL http.url (older) or url.full (current).
    lookups = [
        s
        for s in spans
        if s.service == "fireline-pagerduty-ingest"
        and s.kind == "CLIENT"
        and str(s.attributes.get("url.full", s.attributes.get("http.url", ""))).startswith(
            pagerduty.url
        )
    ]
    assert lookups, "the PagerDuty enrichment calls are not in the trace"
    relayed = one("fireline-pagerduty-ingest", "PRODUCER")
    consumed = one("fireline-incidents", "CONSUMER")
    started = one(
        "fireline-incidents", "PRODUCER", **{"messaging.destination.name": incidents_topic}
    )

    # One causal chain: the incidents service's event was caused by the consumed alert, which the
    # ingest relay sent, from the delivery the webhook request stored.
    chain = ancestors(started)
    assert consumed in chain
    assert relayed in chain
    assert request in chain
    assert chain[-1] == request, "the webhook request is the root of the trace"
    assert all(request in ancestors(lookup) for lookup in lookups)
    # Queries are traced inside it too (asyncpg), e.g. the incident's insert.
    assert any(
        s.service == "fireline-incidents" and s.kind == "CLIENT" and consumed in ancestors(s)
        for s in spans
    )

    # Every log line written for this delivery in the incidents service names the same trace.
    logged = [
        json.loads(line)
        for line in traced_stack.processes["incidents"].log_path.read_text().splitlines()
        if trace_id in line
    ]
    assert logged, "the incidents service logged nothing about the delivery"
    assert all(doc.get("correlation_id") == trace_id for doc in logged)
    assert all(doc.get("trace_id") == trace_id for doc in logged)
