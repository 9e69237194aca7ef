"""Fireline → PagerDuty: a change made in Fireline reaches PagerDuty's REST API once, and its echo
changes nothing.

The five services run as processes; the tests act only through the incidents API (as a person's
client would) and a fake PagerDuty REST server that records every request, answers scripted
statuses and, as PagerDuty does, answers a status change with its signed V3 webhook (the echo).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from fireline_contracts import INCIDENTS
from fireline_devtools.processes import wait_ready
from support import pagerduty_fixtures as pd
from support.e2e_org import SECRET, Org, open_org
from support.fake_pagerduty import (
    DEFAULT_TOKEN,
    FakePagerDuty,
    RecordedRequest,
    ScriptedAnswer,
)
from support.kafka import committed_offsets, read_to_end
from support.stack import Stack

pytestmark = pytest.mark.e2e

FROM = "fireline-bot@example.com"
BOT = "PFLBOT1"
WAIT_S = 60.0
PAGERDUTY_NOTE = pd.load("incident_annotated")["event"]["data"]["content"]


@pytest.fixture(scope="module")
def org(stack: Stack) -> Iterator[Org]:
    with open_org(stack) as opened:
        yield opened


@pytest.fixture
def pagerduty() -> Iterator[FakePagerDuty]:
    fake = FakePagerDuty(users={BOT: {"email": FROM, "name": "Fireline bot"}}).start()
    yield fake
    fake.stop()


@dataclass(frozen=True)
class Synced:
    """A PagerDuty-sourced incident: its Fireline id, its PagerDuty id, its integration."""

    id: str
    external_id: str
    integration: dict[str, Any]


@pytest.fixture
def incident(org: Org, pagerduty: FakePagerDuty) -> Callable[..., Synced]:
    """Makes a PagerDuty-sourced incident of a new integration (sync on unless told)."""

    def make(**settings: Any) -> Synced:
        integration = org.integration(
            pagerduty_api_token=DEFAULT_TOKEN,
            pagerduty_api_url=pagerduty.url,
            **({"sync_to_pagerduty": True, "from_email": FROM} | settings),
        )
        pagerduty.send_webhooks_to(integration["webhook_url"], SECRET)
        external_id = pd.new_incident_id()
        body = pd.delivery("incident_triggered", incident_id=external_id)
        assert org.deliver(integration, body).status_code == 202
        made = org.wait_incident(external_id, timeout=WAIT_S)
        return Synced(made["id"], external_id, integration)

    return make


def set_status(org: Org, incident_id: str, status: str) -> None:
    org.incidents_api("PATCH", f"/v1/incidents/{incident_id}", 200, json={"status": status})


def writes(pagerduty: FakePagerDuty, external_id: str) -> list[RecordedRequest]:
    return [r for r in pagerduty.requests_to(f"/incidents/{external_id}") if r.method != "GET"]


def statuses(requests: list[RecordedRequest]) -> list[str]:
    return [r.json()["incident"]["status"] for r in requests if r.method == "PUT"]


def wait_until(what: str, check: Callable[[], bool], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


def wait_entry(
    org: Org, incident_id: str, summary: str, source: str = "pagerduty_sync"
) -> list[dict[str, Any]]:
    """The timeline once an entry of ``source`` whose summary starts with ``summary`` is on it."""
    found: list[dict[str, Any]] = []

    def there() -> bool:
        found[:] = org.timeline(incident_id, limit=100)
        return any(e["source"] == source and e["summary"].startswith(summary) for e in found)

    wait_until(f"{summary!r} on the timeline", there)
    return found


def after_the_echoes(org: Org, made: Synced) -> list[dict[str, Any]]:
    """The timeline once every echo PagerDuty sent so far has been applied.

    A PagerDuty note sent now is published after them (one incident's deliveries go out in the
    order received): once it is on the timeline, so are the echoes' effects, if any.
    """
    note = pd.delivery(
        "incident_annotated", incident_id=made.external_id, event_id=uuid.uuid4().hex
    )
    assert org.deliver(made.integration, note).status_code == 202
    return wait_entry(org, made.id, "Note added in PagerDuty", source="pagerduty")


def sync_entries(entries: list[dict[str, Any]]) -> list[str]:
    return [e["summary"] for e in entries if e["source"] == "pagerduty_sync"]


def test_acknowledge_and_resolve_reach_pagerduty_once_each_and_the_echoes_add_nothing(
    org: Org, pagerduty: FakePagerDuty, incident: Callable[..., Synced]
) -> None:
    made = incident()
    incident_id, external_id = made.id, made.external_id

    set_status(org, incident_id, "acknowledged")
    wait_entry(org, incident_id, "Acknowledged in PagerDuty")
    set_status(org, incident_id, "resolved")
    wait_entry(org, incident_id, "Resolved in PagerDuty")
    wait_until("both echoes accepted", lambda: len(pagerduty.sent_webhooks) == 2)
    assert [w.status_code for w in pagerduty.sent_webhooks] == [202, 202]

    entries = after_the_echoes(org, made)

    sent = writes(pagerduty, external_id)
    assert statuses(sent) == ["acknowledged", "resolved"]
    assert {r.headers["from"] for r in sent} == {FROM}
    assert {r.headers["authorization"] for r in sent} == {f"Token token={DEFAULT_TOKEN}"}
    changes = [(e["source"], e["summary"]) for e in entries if e["kind"] == "status_changed"]
    assert [source for source, _ in changes] == ["pagerduty", "api", "api"], changes
    assert changes[0][1].startswith("Triggered in PagerDuty"), "the echoes added no entry"
    assert sync_entries(entries) == ["Acknowledged in PagerDuty", "Resolved in PagerDuty"]
    assert org.wait_incident(external_id)["status"] == "resolved"


def test_a_reopening_after_a_resolve_is_not_undone_by_the_resolves_echo(
    org: Org, pagerduty: FakePagerDuty, incident: Callable[..., Synced]
) -> None:
    made = incident()
    incident_id, external_id = made.id, made.external_id
    set_status(org, incident_id, "resolved")
    wait_until("the echo accepted", lambda: len(pagerduty.sent_webhooks) == 1)
    set_status(org, incident_id, "triggered")  # reopened in Fireline; PagerDuty cannot reopen
    wait_entry(org, incident_id, "Not sent to PagerDuty: PagerDuty's REST API cannot reopen")

    after_the_echoes(org, made)

    assert org.wait_incident(external_id)["status"] == "triggered"
    assert statuses(writes(pagerduty, external_id)) == ["resolved"]


def test_with_sync_off_nothing_is_sent(
    org: Org, pagerduty: FakePagerDuty, incident: Callable[..., Synced]
) -> None:
    made = incident(sync_to_pagerduty=False, from_email=None)
    incident_id, external_id = made.id, made.external_id
    set_status(org, incident_id, "resolved")

    # The positive signal: ingest has committed its offset past the status change's event.
    stack = org.stack
    topic = stack.topic_prefix + INCIDENTS.name
    found: list[ConsumerRecord[bytes, bytes]] = []

    def on_the_topic() -> bool:
        # The outbox relay publishes after the PATCH's commit: the event may not be there yet.
        found[:] = [
            r
            for r in asyncio.run(read_to_end(stack.broker.bootstrap, topic))
            if (event := json.loads(r.value or b"{}"))["event_type"] == "IncidentStatusChanged"
            and event["payload"]["incident_id"] == incident_id
        ]
        return bool(found)

    wait_until("the status change on the incidents topic", on_the_topic)
    (change,) = found
    partition = TopicPartition(topic, change.partition)

    def handled() -> bool:
        offsets = asyncio.run(
            committed_offsets(
                stack.broker.bootstrap, f"{stack.topic_prefix}fireline-pagerduty-ingest"
            )
        )
        committed = int(offsets.get(partition, -1))
        return committed > int(change.offset)

    wait_until("ingest past the change", handled)
    assert writes(pagerduty, external_id) == []


def test_a_429_is_retried_after_its_retry_after(
    org: Org, pagerduty: FakePagerDuty, incident: Callable[..., Synced]
) -> None:
    made = incident()
    incident_id, external_id = made.id, made.external_id
    pagerduty.script_writes(ScriptedAnswer(429, {"Retry-After": "3"}))

    set_status(org, incident_id, "resolved")
    entries = wait_entry(org, incident_id, "Resolved in PagerDuty")

    first, second = writes(pagerduty, external_id)
    assert second.at - first.at >= 2.5, "the retry came before Retry-After had passed"
    summaries = sync_entries(entries)
    assert summaries[0].startswith("PagerDuty rate limited the resolution (429")
    assert summaries[1:] == ["Resolved in PagerDuty"]


def test_a_403_stops_and_shows_on_the_timeline(
    org: Org, pagerduty: FakePagerDuty, incident: Callable[..., Synced]
) -> None:
    made = incident()
    incident_id, external_id = made.id, made.external_id
    pagerduty.script_writes(403)

    set_status(org, incident_id, "resolved")
    wait_entry(org, incident_id, "PagerDuty refused the resolution: 403 Access Denied")
    # A later change of the same incident goes only once the earlier one is finished: when it
    # arrives, the refused one was not retried before it.
    set_status(org, incident_id, "acknowledged")
    entries = wait_entry(org, incident_id, "Acknowledged in PagerDuty")

    assert statuses(writes(pagerduty, external_id)) == ["resolved", "acknowledged"]
    assert sync_entries(entries) == [
        "PagerDuty refused the resolution: 403 Access Denied",
        "Acknowledged in PagerDuty",
    ]


def test_notes_added_in_fireline_become_pagerduty_notes_and_their_echo_adds_nothing(
    org: Org, pagerduty: FakePagerDuty, incident: Callable[..., Synced]
) -> None:
    made = incident(sync_notes=True)
    incident_id, external_id = made.id, made.external_id
    text = f"rolled back deploy {uuid.uuid4().hex[:6]}"

    org.incidents_api("POST", f"/v1/incidents/{incident_id}/timeline", 201, json={"text": text})
    wait_entry(org, incident_id, "Note posted to PagerDuty")
    wait_until("the note's echo accepted", lambda: len(pagerduty.sent_webhooks) == 1)
    assert pagerduty.sent_webhooks[0].event_type == "incident.annotated"
    entries = after_the_echoes(org, made)

    notes = [(e["source"], e["text"]) for e in entries if e["kind"] == "note"]
    # Ours, and the PagerDuty note sent after the echo (older by PagerDuty's clock: first).
    assert notes == [("pagerduty", PAGERDUTY_NOTE), ("api", text)], "the echo added a note"
    (posted,) = writes(pagerduty, external_id)
    assert (posted.method, posted.path) == ("POST", f"/incidents/{external_id}/notes")
    assert posted.json() == {"note": {"content": text}}
    assert posted.headers["from"] == FROM


def test_kill_9_of_ingest_between_the_change_and_the_call_still_syncs_once(
    org: Org, stack: Stack, pagerduty: FakePagerDuty, incident: Callable[..., Synced]
) -> None:
    ingest = stack.processes["pagerduty-ingest"]
    # Killed with the change not yet consumed: the event waits in Kafka.
    first = incident()
    ingest.kill()
    try:
        set_status(org, first.id, "resolved")
    finally:
        ingest.start()
        asyncio.run(wait_ready([ingest], timeout=120))
    wait_entry(org, first.id, "Resolved in PagerDuty")

    # Killed with the request stored and its retry not yet due. PagerDuty says to wait 15 s: far
    # longer than the attempt takes to reach the timeline, so the kill never lands mid-retry
    # (a call cut off by the kill would be sent again after the lease, a second PUT).
    second = incident()
    pagerduty.script_writes(ScriptedAnswer(429, {"Retry-After": "15"}))
    set_status(org, second.id, "resolved")
    wait_entry(org, second.id, "PagerDuty rate limited the resolution")
    ingest.kill()
    ingest.start()
    asyncio.run(wait_ready([ingest], timeout=120))
    wait_entry(org, second.id, "Resolved in PagerDuty")

    assert statuses(writes(pagerduty, first.external_id)) == ["resolved"]
    assert statuses(writes(pagerduty, second.external_id)) == ["resolved", "resolved"]
    # PagerDuty posts each echo after its answer: wait for the second one's reply.
    wait_until("both echoes answered", lambda: len(pagerduty.sent_webhooks) == 2)
    assert [w.status_code for w in pagerduty.sent_webhooks] == [202, 202]
