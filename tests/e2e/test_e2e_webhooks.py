"""Outgoing webhooks end to end: PagerDuty in, signed Standard Webhooks and Slack messages out.

The five services run as processes; a PagerDuty delivery goes in at ingest, and what the
notifications service POSTs arrives at a receiver on loopback, where the `standardwebhooks`
package from PyPI (the specification's reference library, not ours) verifies every signature as
a receiver would.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from fireline_devtools.processes import wait_ready
from support import pagerduty_fixtures as pd
from support.e2e_org import Org, open_org
from support.stack import Stack
from support.webhook_receiver import Received, WebhookReceiver

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def org(stack: Stack) -> Iterator[Org]:
    with open_org(stack) as opened:
        yield opened


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


class Endpoints:
    """The webhook endpoints API as the org's admin calls it; deletes what it created."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.base = f"{org.stack.url('notifications')}/v1/webhook-endpoints"
        self.created: list[str] = []

    def call(self, method: str, path: str = "", **kw: Any) -> httpx.Response:
        return httpx.request(
            method, f"{self.base}{path}", headers=self.org.auth_headers, timeout=30, **kw
        )

    def create(self, url: str, **fields: Any) -> dict[str, Any]:
        r = self.call("POST", json={"url": url, **fields})
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        self.created.append(created["id"])
        return created

    def log(self, endpoint_id: str) -> list[dict[str, Any]]:
        r = self.call("GET", f"/{endpoint_id}/deliveries")
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    def wait_log(self, endpoint_id: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            items = self.log(endpoint_id)
            if len(items) >= count:
                return items
            assert time.monotonic() < deadline, f"{len(items)} of {count} attempts logged"
            time.sleep(0.2)


@contextmanager
def _endpoints_of(org: Org) -> Iterator[Endpoints]:
    api = Endpoints(org)
    try:
        yield api
    finally:
        # Every endpoint of the org gets every incident event: later tests must not feed these.
        for endpoint_id in api.created:
            api.call("DELETE", f"/{endpoint_id}")


@pytest.fixture
def endpoints(org: Org) -> Iterator[Endpoints]:
    with _endpoints_of(org) as api:
        yield api


@pytest.fixture
def own_endpoints(stack: Stack) -> Iterator[Endpoints]:
    """The endpoints API of an org of the test's own, for a test that counts every delivery its
    endpoints got: no other test's incident, however late its events come, reaches them."""
    with open_org(stack, own=True) as own, _endpoints_of(own) as api:
        yield api


def _path() -> str:
    return f"/hook-{uuid.uuid4().hex[:8]}"


def _verified(secret: str, got: Received) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(got.body, got.headers)
    return payload


def test_a_pagerduty_trigger_becomes_a_verified_incident_started_webhook_and_a_slack_message(
    org: Org, endpoints: Endpoints, receiver: WebhookReceiver
) -> None:
    standard, slack = _path(), _path()
    hook = endpoints.create(
        receiver.url(standard), description="pager", event_types=["incident.started"]
    )
    endpoints.create(receiver.url(slack), format="slack", event_types=["incident.started"])
    assert hook["secret"].startswith("whsec_")
    integration = org.integration()
    incident_id = pd.new_incident_id()

    r = org.deliver(integration, pd.delivery("incident_triggered", incident_id=incident_id))

    assert r.status_code == 202, r.text
    incident = org.wait_incident(incident_id)
    (got,) = receiver.wait(standard, 1)
    event = _verified(hook["secret"], got)
    assert event["type"] == "incident.started"
    assert event["data"]["incident_id"] == incident["id"]
    assert event["data"]["title"] == pd.INCIDENT_TITLE
    assert event["data"]["source"]["external_id"] == incident_id
    assert got.headers["webhook-id"].startswith("msg_")

    (message,) = receiver.wait(slack, 1)
    blocks = json.loads(message.body)["blocks"]
    text = json.dumps(blocks)
    assert blocks[0]["type"] == "header"
    assert pd.INCIDENT_TITLE in blocks[0]["text"]["text"]
    assert f"*Severity*\\n{incident['severity']}" in text
    assert f"*Status*\\n{incident['status']}" in text
    assert incident["source"]["html_url"] in text  # the PagerDuty link
    assert f"/v1/incidents/{incident['id']}" in text  # the incident page
    assert "webhook-signature" not in message.headers  # Slack verifies nothing of ours


def test_a_timeline_subscriber_gets_a_new_incidents_first_entries_one_message_each(
    own_endpoints: Endpoints, receiver: WebhookReceiver
) -> None:
    # On the bus a start carries its first timeline entries; subscribers still get one signed
    # incident.timeline_entry_added per entry, as the API's timeline has them, and no more.
    endpoints, org = own_endpoints, own_endpoints.org
    path = _path()
    hook = endpoints.create(receiver.url(path), event_types=["incident.timeline_entry_added"])
    integration = org.integration()
    first, second = pd.new_incident_id(), pd.new_incident_id()

    for incident_id in (first, second):
        body = pd.delivery("incident_triggered", incident_id=incident_id)
        assert org.deliver(integration, body).status_code == 202
        org.wait_incident(incident_id)
    # The second incident's entries are the signal that the first one's have all been sent.
    received = [_verified(hook["secret"], got) for got in receiver.wait(path, 4)]
    assert {event["type"] for event in received} == {"incident.timeline_entry_added"}
    incident = org.wait_incident(first)
    entries = sorted(
        (e["data"]["entry_id"], e["data"]["kind"])
        for e in received
        if e["data"]["incident_id"] == incident["id"]
    )
    assert entries == sorted((e["id"], e["kind"]) for e in org.timeline(incident["id"]))
    assert "started" in {kind for _, kind in entries}
    assert len(receiver.received(path)) == 4, "one message per entry, none repeated"


def test_a_failing_receiver_gets_every_retry_with_the_same_webhook_id(
    endpoints: Endpoints, receiver: WebhookReceiver
) -> None:
    path = _path()
    receiver.answer(path, 500, 503, then=204)
    hook = endpoints.create(receiver.url(path))

    r = endpoints.call("POST", f"/{hook['id']}/test")

    assert r.status_code == 202, r.text
    attempts = receiver.wait(path, 3)
    assert {a.headers["webhook-id"] for a in attempts} == {r.json()["webhook_id"]}
    assert [_verified(hook["secret"], a)["type"] for a in attempts] == ["webhook.test"] * 3
    log = endpoints.wait_log(hook["id"], 3)
    assert [(a["status_code"], a["outcome"]) for a in log] == [
        (204, "succeeded"),
        (503, "retrying"),
        (500, "retrying"),
    ]
    assert log[1]["next_retry_at"] is not None
    assert log[0]["next_retry_at"] is None
    assert {a["webhook_id"] for a in log} == {r.json()["webhook_id"]}


def test_410_gone_disables_the_endpoint_visibly_in_the_api_and_the_audit_log(
    org: Org, endpoints: Endpoints, receiver: WebhookReceiver
) -> None:
    path = _path()
    receiver.answer(path, then=410)
    hook = endpoints.create(receiver.url(path))

    assert endpoints.call("POST", f"/{hook['id']}/test").status_code == 202

    receiver.wait(path, 1)
    (attempt,) = endpoints.wait_log(hook["id"], 1)
    assert (attempt["status_code"], attempt["outcome"]) == (410, "gone")
    endpoint = endpoints.call("GET", f"/{hook['id']}").json()
    assert (endpoint["enabled"], endpoint["disabled_reason"]) == (False, "gone")
    # A disabled endpoint is sent nothing more: a new test is refused, not queued.
    assert endpoints.call("POST", f"/{hook['id']}/test").status_code == 409
    deadline = time.monotonic() + 60
    while True:
        export = org.identity.get("/v1/audit-events/export")
        assert export.status_code == 200, export.text
        entries = [json.loads(line) for line in export.text.splitlines()]
        mine = {e["action"]: e for e in entries if e["target"]["id"] == hook["id"]}
        if "webhook_endpoint.disabled" in mine:
            break
        assert time.monotonic() < deadline, "no audit entry for the disabled endpoint"
        time.sleep(0.5)
    entry = mine["webhook_endpoint.disabled"]
    assert entry["actor"]["type"] == "system"
    assert entry["details"]["reason"] == "gone"
    assert entry["details"]["host"] == "127.0.0.1"
    assert hook["secret"] not in json.dumps(entries)
    # Creating it was audited too, with the API key that did it as the actor.
    assert mine["webhook_endpoint.created"]["actor"]["type"] == "key"
    assert len(receiver.received(path)) == 1


def test_during_a_rotation_each_delivery_verifies_with_the_old_and_the_new_secret(
    endpoints: Endpoints, receiver: WebhookReceiver
) -> None:
    path = _path()
    hook = endpoints.create(receiver.url(path))
    rotated = endpoints.call("POST", f"/{hook['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != hook["secret"]

    assert endpoints.call("POST", f"/{hook['id']}/test").status_code == 202

    (got,) = receiver.wait(path, 1)
    assert _verified(hook["secret"], got)["type"] == "webhook.test"
    assert _verified(new_secret, got)["type"] == "webhook.test"
    assert len(got.headers["webhook-signature"].split(" ")) == 2


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",  # the cloud metadata service
        "https://10.1.2.3/hook",  # private
        "https://[::1]/hook",  # loopback, not allow-listed
        "http://example.com/hook",  # plain http to a host the list does not name
        "ftp://example.com/hook",
    ],
)
def test_private_loopback_metadata_and_plain_http_urls_are_refused_and_nothing_is_stored(
    endpoints: Endpoints, url: str
) -> None:
    before = endpoints.call("GET").json()["items"]

    r = endpoints.call("POST", json={"url": url})

    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "url_refused"
    assert endpoints.call("GET").json()["items"] == before


def test_a_dead_endpoint_does_not_delay_a_healthy_one(
    endpoints: Endpoints, receiver: WebhookReceiver
) -> None:
    dead, healthy = _path(), _path()
    receiver.answer(dead, then=204, delay_s=10)
    dead_hook = endpoints.create(receiver.url(dead))
    healthy_hook = endpoints.create(receiver.url(healthy))
    for _ in range(12):  # more than its in-flight slots (8): a backlog of its own
        assert endpoints.call("POST", f"/{dead_hook['id']}/test").status_code == 202

    started = time.monotonic()
    assert endpoints.call("POST", f"/{healthy_hook['id']}/test").status_code == 202
    receiver.wait(healthy, 1)
    took = time.monotonic() - started

    # Not one of the dead endpoint's requests has been answered yet, and the healthy one
    # already got its message: it did not wait behind them.
    assert receiver.received(dead) == []
    print(f"healthy endpoint served in {took * 1000:.0f} ms while the dead one hung")


def test_kill_9_mid_fan_out_loses_nothing(
    stack: Stack, own_endpoints: Endpoints, receiver: WebhookReceiver
) -> None:
    endpoints, org = own_endpoints, own_endpoints.org
    paths = [_path() for _ in range(3)]
    for path in paths:
        receiver.answer(path, then=204, delay_s=0.3)  # slow enough to be mid-fan-out at the kill
        endpoints.create(receiver.url(path), event_types=["incident.started"])
    integration = org.integration()
    incidents = [pd.new_incident_id() for _ in range(8)]
    for incident_id in incidents:
        body = pd.delivery("incident_triggered", incident_id=incident_id)
        assert org.deliver(integration, body).status_code == 202

    receiver.wait(paths[0], 2)
    notifications = stack.processes["notifications"]
    notifications.kill()
    notifications.start()
    asyncio.run(wait_ready([notifications], timeout=120))

    # Every endpoint gets every incident: at least once, and a second copy only under the same
    # webhook-id (the lease of a killed claim ran out and it was sent again).
    for path in paths:
        deadline = time.monotonic() + 120
        while True:
            got = receiver.received(path)
            ids = {json.loads(r.body)["data"]["source"]["external_id"] for r in got}
            if ids >= set(incidents):
                break
            assert time.monotonic() < deadline, f"{path}: {len(ids)} of {len(incidents)}"
            time.sleep(0.5)
        by_incident: dict[str, set[str]] = {}
        for r in got:
            external_id = json.loads(r.body)["data"]["source"]["external_id"]
            by_incident.setdefault(external_id, set()).add(r.headers["webhook-id"])
        assert {k: len(v) for k, v in by_incident.items()} == dict.fromkeys(incidents, 1)
