"""PagerDuty webhooks start incidents end to end, with or without a resolved creator.

Everything goes through the public surfaces of the four processes: identity's API creates the
users and the key, auth exchanges the key, ingest receives signed deliveries (enriching them from
a fake PagerDuty REST server on loopback), and the incidents API shows the outcome.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import httpx
import pytest

from fireline_contracts import ALERTS
from support import pagerduty_fixtures as pd
from support.e2e_org import SECRET, Org, open_org
from support.fake_pagerduty import DEFAULT_TOKEN, FakePagerDuty, OnCall
from support.kafka import read_to_end
from support.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def org(stack: Stack) -> Iterator[Org]:
    with open_org(stack) as opened:
        yield opened


@pytest.fixture(scope="module")
def pagerduty(org: Org) -> Iterator[FakePagerDuty]:
    run = org.run
    users = {
        pd.TRIGGERING_USER_ID: {"email": f"Agent.{run}@Example.com", "name": "Agent"},
        pd.ON_CALL_USER_ID: {"email": f"oncall.{run}@example.com", "name": "On Call"},
        "PSTRANGER": {"email": f"stranger.{run}@elsewhere.test", "name": "Stranger"},
    }
    fake = FakePagerDuty(
        users=users,
        oncalls={
            "PEPONCALL": [OnCall("PSTRANGER", 1), OnCall(pd.ON_CALL_USER_ID, 2)],
            pd.ESCALATION_POLICY_ID: [OnCall("PSTRANGER", 1)],
        },
        slow_delay=4.0,
    ).start()
    yield fake
    fake.stop()


def test_no_pagerduty_token_starts_an_incident_without_creator(org: Org) -> None:
    integration = org.integration()
    incident_id = pd.new_incident_id()
    r = org.deliver(integration, pd.delivery("incident_triggered", incident_id=incident_id))
    assert r.status_code == 202, r.text
    incident = org.wait_incident(incident_id)
    assert incident["creator_id"] is None
    assert incident["status"] != "resolved"
    assert incident["source"]["kind"] == "pagerduty"
    assert incident["source"]["service_name"] == pd.SERVICE_NAME
    assert incident["title"] == pd.INCIDENT_TITLE


def test_agent_email_matches_a_user_in_another_letter_case(
    org: Org, pagerduty: FakePagerDuty
) -> None:
    user_id = org.user(f"agent.{org.run}@example.com", "Agent Fireline")
    integration = org.integration(
        pagerduty_api_token=DEFAULT_TOKEN, pagerduty_api_url=pagerduty.url
    )
    incident_id = pd.new_incident_id()
    body = pd.delivery(
        "incident_triggered", incident_id=incident_id, agent_user_id=pd.TRIGGERING_USER_ID
    )
    assert org.deliver(integration, body).status_code == 202
    assert org.wait_incident(incident_id)["creator_id"] == user_id


def test_unmatched_agent_but_an_on_call_user_matches(org: Org, pagerduty: FakePagerDuty) -> None:
    user_id = org.user(f"oncall.{org.run}@example.com", "On Call Fireline")
    integration = org.integration(
        pagerduty_api_token=DEFAULT_TOKEN, pagerduty_api_url=pagerduty.url
    )
    incident_id = pd.new_incident_id()
    body = pd.delivery(
        "incident_triggered",
        incident_id=incident_id,
        agent_user_id="PSTRANGER",
        escalation_policy_id="PEPONCALL",
    )
    assert org.deliver(integration, body).status_code == 202
    assert org.wait_incident(incident_id)["creator_id"] == user_id


@pytest.mark.parametrize("mode", ["slow", "error"])
def test_pagerduty_api_slow_or_failing_still_starts_the_incident(
    org: Org, pagerduty: FakePagerDuty, mode: str
) -> None:
    # A Fireline user who is both the agent and on call: reachable, PagerDuty would name them.
    email = f"{mode}.{org.run}@example.com"
    org.user(email, f"{mode} responder")
    pd_user, policy = f"P{mode.upper()}USER", f"PEP{mode.upper()}"
    pagerduty.set_user(pd_user, email=email, name=f"{mode} responder")
    pagerduty.set_oncalls(policy, [OnCall(pd_user, 1)])
    integration = org.integration(
        pagerduty_api_token=DEFAULT_TOKEN, pagerduty_api_url=pagerduty.url
    )
    pagerduty.set_mode(mode)  # type: ignore[arg-type]
    try:
        incident_id = pd.new_incident_id()
        body = pd.delivery(
            "incident_triggered",
            incident_id=incident_id,
            agent_user_id=pd_user,
            escalation_policy_id=policy,
        )
        assert org.deliver(integration, body).status_code == 202
        incident = org.wait_incident(incident_id, timeout=30)
    finally:
        pagerduty.set_mode("normal")
    assert incident["creator_id"] is None, "no email could be learnt, so no creator"


def test_the_same_delivery_three_times_makes_one_incident(org: Org) -> None:
    integration = org.integration()
    incident_id = pd.new_incident_id()
    body = pd.delivery("incident_triggered", incident_id=incident_id)
    webhook_id = str(uuid.uuid4())
    codes = [org.deliver(integration, body, webhook_id=webhook_id).status_code for _ in range(3)]
    assert all(200 <= c < 300 for c in codes), codes
    # A later event of the same PagerDuty incident shares the partition and comes after every
    # copy: once it has been applied, any duplicate would already have been too.
    acknowledged = pd.delivery("incident_acknowledged", incident_id=incident_id)
    assert org.deliver(integration, acknowledged).status_code == 202
    org.wait_incident(incident_id, status="acknowledged")
    assert len(org.incidents(external_id=incident_id)) == 1


def test_bad_signature_is_refused_and_stores_nothing(org: Org) -> None:
    integration = org.integration()
    forged_id, good_id = pd.new_incident_id(), pd.new_incident_id()
    forged = pd.delivery("incident_triggered", incident_id=forged_id)
    r = httpx.post(
        integration["webhook_url"],
        content=forged,
        headers=pd.signed(forged, ["not-the-secret"]),
        timeout=10,
    )
    assert r.status_code == 401
    # A genuine delivery sent afterwards is processed; the forged one never shows up.
    good = pd.delivery("incident_triggered", incident_id=good_id)
    assert org.deliver(integration, good).status_code == 202
    org.wait_incident(good_id)
    assert org.incidents(external_id=forged_id) == []


def test_a_300_kb_body_is_refused_with_413(org: Org) -> None:
    integration = org.integration()
    body = pd.delivery("incident_triggered", title="x" * (300 * 1024))
    assert len(body) > 300 * 1024
    assert org.deliver(integration, body).status_code == 413


def test_broker_down_during_deliveries_loses_nothing(org: Org) -> None:
    integration = org.integration()
    ids = [pd.new_incident_id() for _ in range(5)]
    org.stack.broker.cut()
    try:
        codes = [
            org.deliver(integration, pd.delivery("incident_triggered", incident_id=i)).status_code
            for i in ids
        ]
    finally:
        org.stack.broker.restore()
    # Back from an outage that may have outlasted the revocation bound, the incidents API answers
    # tokens again once identity's watermarks have reached it.
    org.stack.wait_ready()
    assert codes == [202] * len(ids)
    for incident_id in ids:
        org.wait_incident(incident_id, timeout=60)


def test_triggered_then_resolved_ends_resolved(org: Org) -> None:
    integration = org.integration()
    incident_id = pd.new_incident_id()
    for name in ("incident_triggered", "incident_acknowledged", "incident_resolved"):
        r = org.deliver(integration, pd.delivery(name, incident_id=incident_id))
        assert r.status_code == 202, (name, r.text)
    incident = org.wait_incident(incident_id, status="resolved")
    assert incident["resolved_at"] is not None
    assert incident["acknowledged_at"] is not None


def test_query_parameters_override_the_integration_defaults(org: Org) -> None:
    integration = org.integration(default_severity="SEV3", default_incident_type="Default")
    incident_id = pd.new_incident_id()
    url = f"{integration['webhook_url']}?incident_type=Security&severity=SEV1"
    body = pd.delivery("incident_triggered", incident_id=incident_id)
    r = httpx.post(url, content=body, headers=pd.signed(body, [SECRET]), timeout=10)
    assert r.status_code == 202
    incident = org.wait_incident(incident_id)
    assert (incident["severity"], incident["incident_type"]) == ("SEV1", "Security")


def test_ping_and_unknown_events_are_accepted_and_start_nothing(org: Org) -> None:
    integration = org.integration()
    for name in ("pagey_ping", "service_updated"):
        r = org.deliver(integration, pd.delivery(name))
        assert r.status_code == 202
        # Decided and committed before the answer: these will never be published as alerts.
        assert r.json()["recorded_as"] == "ignored"
    # A trigger sent afterwards is the positive signal: the relay publishes in the order rows
    # were written, so once the trigger's incident exists, an alert for either delivery would
    # already be on the alerts topic.
    marker = pd.new_incident_id()
    trigger = pd.delivery("incident_triggered", incident_id=marker)
    assert org.deliver(integration, trigger).status_code == 202
    org.wait_incident(marker)
    topic = org.stack.topic_prefix + ALERTS.name
    alerts = asyncio.run(read_to_end(org.stack.broker.bootstrap, topic))
    kinds = {json.loads(a.value or b"{}")["payload"]["pagerduty_event_type"] for a in alerts}
    assert "incident.triggered" in kinds
    assert not kinds & {"pagey.ping", "service.updated"}
