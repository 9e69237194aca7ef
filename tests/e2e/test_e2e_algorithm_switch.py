"""Switching the signing algorithm of a running deployment refuses nothing.

Two auth replicas sign with ES256. While a client keeps exchanging its key (at whichever replica
the "load balancer" currently routes to) and reading incidents with each new token, and with its
first token too, the replicas are restarted one at a time with ``FIRELINE_TOKEN_SIGNING_ALG=RS256``
(a rolling restart, each drained first). The restarted replica's schedule publishes an RS256 key
ahead, the other (still on the old setting) leaves it alone, and the key takes over. Not one
exchange and not one read may be refused, before, during or after.

Publish-ahead is shortened from 120 s to 35 s, still above what the rule in the auth README
needs here: the incidents verifier's 30 s refetch floor plus auth's key refresh period (0.5 s),
with no HTTP cache in between.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from fireline_devtools.postgres import Postgres
from fireline_devtools.processes import wait_ready
from support import infra
from support.credentials import admin_session, exchange, new_key
from support.stack import Stack, running_stack

pytestmark = pytest.mark.e2e

PUBLISH_AHEAD_S = 35
SWITCH_TIMEOUT_S = PUBLISH_AHEAD_S + 60


@pytest.fixture(scope="module")
def es256_stack(postgres: Postgres, kafka_broker: infra.Broker) -> Iterator[Stack]:
    with running_stack(
        postgres,
        kafka_broker,
        replicas={"auth": 2},
        extra_env={
            "auth": {
                "FIRELINE_TOKEN_SIGNING_ALG": "ES256",
                "FIRELINE_SIGNING_KEY_PUBLISH_AHEAD_S": str(PUBLISH_AHEAD_S),
                "FIRELINE_SIGNING_KEY_REFRESH_S": "0.5",
            }
        },
    ) as stack:
        yield stack


def alg_of(token: str) -> str:
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    return str(header["alg"])


@dataclass
class Traffic:
    """The client: exchanges and authenticated reads, one after another, until told to stop."""

    credentials: tuple[str, str]
    incidents: str
    routes: list[str]
    first_token: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    refused: list[str] = field(default_factory=list)
    tokens: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(replica URL, alg) of every token issued."""
    reads: int = 0

    def run(self) -> None:
        turn = 0
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                with self.lock:  # a replica being drained is not routed to
                    url = self.routes[turn % len(self.routes)]
                    turn += 1
                    r = client.post(
                        f"{url}/oauth/token",
                        data={"grant_type": "client_credentials"},
                        auth=self.credentials,
                    )
                if r.status_code != 200:
                    self.refused.append(f"exchange at {url}: {r.status_code} {r.text}")
                    continue
                token = r.json()["access_token"]
                self.tokens[(url, alg_of(token))] += 1
                for bearer in (token, self.first_token):
                    read = client.get(self.incidents, headers={"Authorization": f"Bearer {bearer}"})
                    self.reads += 1
                    if read.status_code != 200:
                        self.refused.append(f"read with {alg_of(bearer)}: {read.status_code}")

    def drain(self, url: str) -> None:
        with self.lock:
            self.routes.remove(url)

    def restore(self, url: str) -> None:
        with self.lock:
            self.routes.append(url)


def test_a_rolling_switch_from_es256_to_rs256_under_traffic_refuses_nothing(
    es256_stack: Stack,
) -> None:
    stack = es256_stack
    identity = admin_session(stack)
    key = new_key(identity, "algorithm switch")
    identity.close()
    first = exchange(stack, key)
    assert alg_of(first) == "ES256"
    replicas = stack.replicas("auth")
    traffic = Traffic(
        credentials=(key["id"], key["key"]),
        incidents=f"{stack.url('incidents')}/v1/incidents",
        routes=[stack.url(name) for name in replicas],
        first_token=first,
    )
    worker = threading.Thread(target=traffic.run, daemon=True)
    worker.start()
    try:
        for name in reversed(replicas):  # a rolling restart, one replica at a time
            process = stack.processes[name]
            traffic.drain(process.url)
            process.stop()
            process.env["FIRELINE_TOKEN_SIGNING_ALG"] = "RS256"
            process.start()
            asyncio.run(wait_ready([process], timeout=60))
            traffic.restore(process.url)

        deadline = time.monotonic() + SWITCH_TIMEOUT_S
        while time.monotonic() < deadline and not all(
            traffic.tokens[(stack.url(name), "RS256")] >= 20 for name in replicas
        ):
            assert worker.is_alive()
            time.sleep(0.2)
    finally:
        traffic.stop.set()
        worker.join(30)

    assert traffic.refused == [], traffic.refused[:5]
    for name in replicas:
        url = stack.url(name)
        assert traffic.tokens[(url, "RS256")] >= 20, (name, traffic.tokens)
    assert sum(n for (_, alg), n in traffic.tokens.items() if alg == "ES256") > 0
    assert traffic.reads > 2 * 40
