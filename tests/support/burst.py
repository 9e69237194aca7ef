"""Bursts of signed PagerDuty deliveries with exact accounting, for the fault tests.

A burst is N distinct PagerDuty incidents; every ``full_life_every``-th of them goes through its
whole life (triggered, acknowledged, resolved) so that per-incident order can be checked on the
alerts topic: Kafka keys a PagerDuty incident's alerts to one partition, and across retried sends
and broker failovers they must stay in the order PagerDuty sent them.

The sender behaves as PagerDuty does: one PagerDuty incident's deliveries go out one after the
other, each only once the previous one was answered 2xx; anything else (a 5xx, a refused or
dropped connection) is retried with the same ``X-Webhook-Id`` after a back-off. It spreads the
deliveries over every ingest replica it is given, as a load balancer would, and moves to the next
replica when one does not answer.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import ConsumerRecord

from support import pagerduty_fixtures as pd
from support.kafka import read_to_end

LIFE = ("incident_triggered_agent_null", "incident_acknowledged", "incident_resolved")
ALERT_ORDER = ["AlertTriggered", "AlertAcknowledged", "AlertResolved"]
RETRY_503_FOR_S = 60.0
"""How long a read keeps honouring 503 + Retry-After before the 503 counts as the answer."""


@dataclass(frozen=True)
class PlannedIncident:
    pagerduty_id: str
    deliveries: tuple[tuple[bytes, dict[str, str]], ...]
    """(body, headers) in PagerDuty's order; the headers' X-Webhook-Id is kept for retries."""

    @property
    def final_status(self) -> str:
        return "resolved" if len(self.deliveries) == len(LIFE) else "triggered"


def plan(count: int, secret: str, *, full_life_every: int = 4) -> list[PlannedIncident]:
    planned: list[PlannedIncident] = []
    for i in range(count):
        incident_id = pd.new_incident_id()
        names = LIFE if i % full_life_every == 0 else LIFE[:1]
        deliveries = []
        for name in names:
            body = pd.delivery(name, incident_id=incident_id)
            deliveries.append((body, pd.signed(body, [secret], webhook_id=str(uuid.uuid4()))))
        planned.append(PlannedIncident(incident_id, tuple(deliveries)))
    return planned


@dataclass
class Sent:
    """What the sender saw; ``accepted`` counts deliveries answered 2xx (each once)."""

    deliveries: int = 0
    accepted: int = 0
    attempts: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    no_answer: int = 0


class Sender:
    def __init__(self, ingest_urls: list[str], webhook_path: str, *, workers: int = 8) -> None:
        self.urls = list(ingest_urls)
        self.path = webhook_path
        self.workers = workers
        self.sent = Sent()
        self._next = 0

    async def send(self, planned: list[PlannedIncident], *, give_up_after: float = 240.0) -> Sent:
        queue: asyncio.Queue[PlannedIncident] = asyncio.Queue()
        for item in planned:
            queue.put_nowait(item)
        self.sent.deliveries = sum(len(p.deliveries) for p in planned)
        deadline = time.monotonic() + give_up_after
        async with httpx.AsyncClient(timeout=10) as client, asyncio.TaskGroup() as group:
            for _ in range(self.workers):
                group.create_task(self._work(client, queue, deadline))
        return self.sent

    async def wait_accepted(self, count: int, timeout: float = 120.0) -> None:
        """Until ``count`` deliveries were answered 2xx: the moment a test injects its fault."""
        deadline = time.monotonic() + timeout
        while self.sent.accepted < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.sent.accepted} of {count} deliveries accepted")
            await asyncio.sleep(0.02)

    async def _work(
        self,
        client: httpx.AsyncClient,
        queue: asyncio.Queue[PlannedIncident],
        deadline: float,
    ) -> None:
        while not queue.empty():
            item = queue.get_nowait()
            for body, headers in item.deliveries:
                await self._deliver(client, body, headers, deadline)

    async def _deliver(
        self, client: httpx.AsyncClient, body: bytes, headers: dict[str, str], deadline: float
    ) -> None:
        pause = 0.2
        while True:
            self.sent.attempts += 1
            url = self.urls[self._next % len(self.urls)] + self.path
            self._next += 1
            try:
                r = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError:
                self.sent.no_answer += 1
            else:
                self.sent.answers[r.status_code] += 1
                if 200 <= r.status_code < 300:
                    self.sent.accepted += 1
                    return
                if 400 <= r.status_code < 500:
                    raise AssertionError(f"a valid delivery was refused: {r.status_code} {r.text}")
            if time.monotonic() > deadline:
                raise TimeoutError("PagerDuty would have given up on this delivery")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)


def webhook_path(webhook_url: str) -> str:
    return urllib.parse.urlsplit(webhook_url).path


@dataclass(frozen=True)
class Accounting:
    """The outcome a user cares about: one incident per PagerDuty incident, in its final state."""

    sent: Sent
    incidents: int
    lost: int
    duplicated: int
    out_of_order: int
    recovery_s: float

    def line(self, label: str) -> str:
        retried = sum(n for status, n in self.sent.answers.items() if status >= 500)
        return (
            f"[{label}] deliveries sent={self.sent.deliveries} answered_2xx={self.sent.accepted} "
            f"answered_5xx={retried} no_answer={self.sent.no_answer} "
            f"attempts={self.sent.attempts} incidents={self.incidents} lost={self.lost} "
            f"duplicated={self.duplicated} out_of_order={self.out_of_order} "
            f"recovery_s={self.recovery_s:.1f}"
        )


async def _read_page(
    client: httpx.AsyncClient, incidents_url: str, token: str, cursor: str
) -> httpx.Response:
    """One page, retried as a client honouring ``Retry-After`` does while a 503 says the service
    cannot vouch for tokens right now: after a replica or broker was killed, its view of
    revocations may be older than the bound until the group has moved its partitions on."""
    deadline = time.monotonic() + RETRY_503_FOR_S
    while True:
        r = await client.get(
            f"{incidents_url}/v1/incidents",
            params={"source": "pagerduty", "limit": 100, "cursor": cursor},
            headers={"Authorization": f"Bearer {token}"},
        )
        if r.status_code != 503 or "retry-after" not in r.headers:
            return r
        if time.monotonic() > deadline:
            return r
        await asyncio.sleep(min(float(r.headers["retry-after"]), 1.0))


async def incidents_by_pagerduty_id(
    incidents_url: str, token: str, wanted: set[str]
) -> dict[str, list[dict[str, Any]]]:
    """Every incident whose PagerDuty incident is in ``wanted``, through the incidents API."""
    found: dict[str, list[dict[str, Any]]] = {}
    cursor = ""
    async with httpx.AsyncClient(timeout=30) as client:
        while True:
            r = await _read_page(client, incidents_url, token, cursor)
            assert r.status_code == 200, r.text
            page = r.json()
            for item in page["items"]:
                external_id = (item.get("source") or {}).get("external_id")
                if external_id in wanted:
                    found.setdefault(external_id, []).append(item)
            if not page["next_cursor"]:
                return found
            cursor = page["next_cursor"]


async def account(
    incidents_url: str,
    token: str,
    planned: list[PlannedIncident],
    sent: Sent,
    *,
    alerts_topic: tuple[str, str],
    since: float,
    timeout: float = 180.0,
) -> Accounting:
    """Wait until every planned incident is in its final state (or the time is up), then count.

    Waiting ends on a positive signal: all N incidents in their final state. Duplicates could
    only come from redelivered events, which are applied before or with the originals they
    repeat; the count is taken once more after that signal to catch any that trail it.
    """
    wanted = {p.pagerduty_id: p.final_status for p in planned}
    deadline = time.monotonic() + timeout
    found: dict[str, list[dict[str, Any]]] = {}
    recovered = float("nan")
    while time.monotonic() < deadline:
        found = await incidents_by_pagerduty_id(incidents_url, token, set(wanted))
        if all(
            pid in found and found[pid][0]["status"] == status for pid, status in wanted.items()
        ):
            recovered = time.monotonic() - since
            break
        await asyncio.sleep(0.5)
    found = await incidents_by_pagerduty_id(incidents_url, token, set(wanted))
    bootstrap, topic = alerts_topic
    alerts = await read_to_end(bootstrap, topic)
    lost = sum(1 for pid in wanted if pid not in found)
    duplicated = sum(len(items) - 1 for items in found.values())
    wrong_state = sum(
        1
        for pid, status in wanted.items()
        if pid in found and any(item["status"] != status for item in found[pid])
    )
    return Accounting(
        sent=sent,
        incidents=sum(len(items) for items in found.values()),
        lost=lost,
        duplicated=duplicated,
        out_of_order=wrong_state + _alerts_out_of_order(alerts, planned),
        recovery_s=recovered,
    )


def _alerts_out_of_order(
    alerts: list[ConsumerRecord[bytes, bytes]], planned: list[PlannedIncident]
) -> int:
    """PagerDuty incidents whose alerts do not first appear on the topic in PagerDuty's order.

    A redelivered alert may appear again later (the consumers' inbox drops it); what must hold
    is the order of first appearances, and that each of the incident's alerts is there.
    """
    seen: dict[str, list[str]] = {}
    for record in alerts:
        pid = (record.key or b"").decode()
        event_type = json.loads(record.value or b"{}").get("event_type", "")
        order = seen.setdefault(pid, [])
        if event_type not in order:
            order.append(event_type)
    return sum(
        1
        for p in planned
        if len(p.deliveries) == len(LIFE) and seen.get(p.pagerduty_id) != ALERT_ORDER
    )
