"""Issue 4 end to end: PagerDuty webhooks start incidents, with or without a resolved creator.

Everything goes through the public surfaces of the four processes: identity's API creates the
users and the key, auth exchanges the key, ingest receives signed deliveries (enriching them from
a fake PagerDuty REST server on loopback), and the incidents API shows the outcome.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from support import pagerduty_fixtures as pd
from support.credentials import access_token, admin_session
from support.fake_pagerduty import DEFAULT_TOKEN, FakePagerDuty, OnCall
from support.stack import Stack

pytestmark = pytest.mark.e2e

SECRET = "e2e-signing-secret-0123456789abcdef"


@dataclass
class Org:
    stack: Stack
    identity: httpx.Client
    token: str
    run: str

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def integration(self, **fields: Any) -> dict[str, Any]:
        body = {"name": f"pd-{uuid.uuid4().hex[:6]}", "signing_secrets": [SECRET], **fields}
        r = httpx.post(
            f"{self.stack.url('pagerduty-ingest')}/v1/integrations/pagerduty",
            json=body,
            headers=self.auth_headers,
            timeout=10,
        )
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    def deliver(self, integration: dict[str, Any], body: bytes, **kw: Any) -> httpx.Response:
        headers = pd.signed(body, [SECRET], **kw)
        return httpx.post(integration["webhook_url"], content=body, headers=headers, timeout=10)

    def incidents(self, **params: str) -> list[dict[str, Any]]:
        r = httpx.get(
            f"{self.stack.url('incidents')}/v1/incidents",
            params=params,
            headers=self.auth_headers,
            timeout=10,
        )
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    def wait_incident(self, external_id: str, timeout: float = 20, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        items: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            items = self.incidents(external_id=external_id)
            if items and all(items[0].get(k) == v for k, v in match.items()):
                return items[0]
            time.sleep(0.05)
        raise AssertionError(f"no incident for {external_id} matching {match}: {items}")

    def user(self, email: str, name: str) -> str:
        r = self.identity.post(
            "/v1/users",
            json={"email": email, "name": name, "role": "member", "password": "correct horse 1"},
        )
        assert r.status_code == 201, r.text
        user_id: str = r.json()["id"]
        # The users projection in incidents is fed through Kafka: wait until it knows the user,
        # observed through the public API (a manual incident naming the user as creator).
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            probe = httpx.post(
                f"{self.stack.url('incidents')}/v1/incidents",
                json={"title": f"projection probe {name}", "creator_id": user_id},
                headers=self.auth_headers,
                timeout=10,
            )
            if probe.status_code == 201:
                return user_id
            time.sleep(0.1)
        raise AssertionError(f"incidents never learnt about user {email}")


@pytest.fixture(scope="module")
def org(stack: Stack) -> Iterator[Org]:
    identity = admin_session(stack)
    token = access_token(stack, identity, "pagerduty e2e")
    yield Org(stack, identity, token, uuid.uuid4().hex[:6])
    identity.close()


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


def test_a_no_pagerduty_token_starts_an_incident_without_creator(org: Org) -> None:
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


def test_b_agent_email_matches_a_user_in_another_letter_case(
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


def test_c_unmatched_agent_but_an_on_call_user_matches(org: Org, pagerduty: FakePagerDuty) -> None:
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
def test_d_pagerduty_api_slow_or_failing_still_starts_the_incident(
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


def test_e_the_same_delivery_three_times_makes_one_incident(org: Org) -> None:
    integration = org.integration()
    incident_id = pd.new_incident_id()
    body = pd.delivery("incident_triggered", incident_id=incident_id)
    webhook_id = str(uuid.uuid4())
    codes = [org.deliver(integration, body, webhook_id=webhook_id).status_code for _ in range(3)]
    assert all(200 <= c < 300 for c in codes), codes
    org.wait_incident(incident_id)
    time.sleep(1.0)  # a duplicate, if any, would be published right behind the first
    assert len(org.incidents(external_id=incident_id)) == 1


def test_f_bad_signature_is_refused_and_stores_nothing(org: Org) -> None:
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


def test_g_a_300_kb_body_is_refused_with_413(org: Org) -> None:
    integration = org.integration()
    body = pd.delivery("incident_triggered", title="x" * (300 * 1024))
    assert len(body) > 300 * 1024
    assert org.deliver(integration, body).status_code == 413


def test_h_broker_down_during_deliveries_loses_nothing(org: Org) -> None:
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
    assert codes == [202] * len(ids)
    for incident_id in ids:
        org.wait_incident(incident_id, timeout=60)


def test_i_triggered_then_resolved_ends_resolved(org: Org) -> None:
    integration = org.integration()
    incident_id = pd.new_incident_id()
    for name in ("incident_triggered", "incident_acknowledged", "incident_resolved"):
        r = org.deliver(integration, pd.delivery(name, incident_id=incident_id))
        assert r.status_code == 202, (name, r.text)
    incident = org.wait_incident(incident_id, status="resolved")
    assert incident["resolved_at"] is not None
    assert incident["acknowledged_at"] is not None


def test_j_query_parameters_override_the_integration_defaults(org: Org) -> None:
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
    newest_before = org.incidents(limit="1")
    for name in ("pagey_ping", "service_updated"):
        assert org.deliver(integration, pd.delivery(name)).status_code == 202
    time.sleep(1.0)
    assert org.incidents(limit="1") == newest_before
