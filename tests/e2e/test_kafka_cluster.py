"""Fireline on a three-broker Apache Kafka cluster: replication, failover and scale-out.

The four services run as two replicas each (same database and consumer group, a port each), on
six partitions per topic with replication factor 3 and ``min.insync.replicas`` 2. Each fault test
sends a burst of distinct signed PagerDuty deliveries the way PagerDuty does (retrying whatever is
not answered 2xx), breaks something real mid-burst (kill -9 of a broker or a service replica, the
whole cluster stopped), and then counts: exactly one incident per PagerDuty incident, each in its
final state, every alert on the topic in PagerDuty's order. The accounting line is printed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from fireline_contracts import topics
from fireline_devtools.postgres import Postgres
from fireline_devtools.processes import wait_ready
from support import burst, infra
from support.credentials import admin_session, exchange_at, new_key
from support.kafka import committed_offsets, group_assignments, partitions, topic_configs
from support.stack import Stack, running_stack
from support.waiting import wait_for

pytestmark = pytest.mark.e2e

SECRET = "cluster-signing-secret-0123456789abcdef"
PARTITIONS = 6
BURST = 150
"""PagerDuty incidents per burst (every fourth goes through its whole life: 225 deliveries)."""


@pytest.fixture(scope="module")
def cluster() -> Iterator[infra.Broker]:
    broker = infra.start_broker("cluster", size=3)
    if broker.kind != "apache-kafka":
        broker.stop()
        pytest.skip("a three-broker cluster needs Apache Kafka (FIRELINE_TEST_BROKER=tansu)")
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def cluster_stack(postgres: Postgres, cluster: infra.Broker) -> Iterator[Stack]:
    with running_stack(
        postgres,
        cluster,
        common_env={
            "FIRELINE_TOPIC_PARTITIONS": str(PARTITIONS),
            "FIRELINE_TOPIC_REPLICATION": "3",
            "FIRELINE_TOPIC_MIN_INSYNC_REPLICAS": "2",
        },
        replicas={"identity": 2, "auth": 2, "incidents": 2, "pagerduty-ingest": 2},
    ) as s:
        yield s


@dataclass
class Org:
    stack: Stack
    key: tuple[str, str]
    webhook_path: str

    def token(self, key: tuple[str, str] | None = None) -> str:
        return exchange_at(self.stack.url("auth"), key or self.key)

    @property
    def ingest_urls(self) -> list[str]:
        return [self.stack.url(n) for n in self.stack.replicas("pagerduty-ingest")]

    def alerts_topic(self) -> tuple[str, str]:
        return self.stack.broker.bootstrap, self.stack.topic_prefix + topics.ALERTS.name


@pytest.fixture(scope="module")
def org(cluster_stack: Stack) -> Org:
    stack = cluster_stack
    identity = admin_session(stack)
    try:
        key = new_key(identity, "cluster e2e")
    finally:
        identity.close()
    credentials = (key["id"], key["key"])
    token = exchange_at(stack.url("auth"), credentials)
    r = httpx.post(
        f"{stack.url('pagerduty-ingest')}/v1/integrations/pagerduty",
        json={"name": "cluster", "signing_secrets": [SECRET]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return Org(stack, credentials, burst.webhook_path(r.json()["webhook_url"]))


@pytest.fixture(autouse=True)
def _everything_back(cluster: infra.Broker, cluster_stack: Stack) -> Iterator[None]:
    """Whatever a test broke comes back before the next one (brokers, then replicas)."""
    yield
    cluster.restore()
    for process in cluster_stack.processes.values():
        if process.proc is None or process.proc.poll() is not None:
            process.start()
    asyncio.run(_ready(cluster_stack))


async def _ready(stack: Stack) -> None:
    await wait_ready(list(stack.processes.values()), timeout=120)


async def _run_burst(
    org: Org, label: str, fault: AsyncIterator[None] | None = None
) -> burst.Accounting:
    """Send a burst; ``fault`` is stepped once when a third of it was accepted, and once more
    (to repair, where it does) after the sending finished. Then count and print."""
    planned = burst.plan(BURST, SECRET)
    sender = burst.Sender(org.ingest_urls, org.webhook_path)
    started = time.monotonic()
    sending = asyncio.create_task(sender.send(planned))
    if fault is not None:
        await sender.wait_accepted(sender.sent.deliveries // 3 or 1)
        await anext(fault)
    sent = await sending
    if fault is not None:
        await anext(fault, None)
        # After an outage longer than the revocation bound the token-checking services answer
        # 503 until identity's watermarks reach them again; /readyz says when they do. A replica
        # the fault killed stays down until the test ends.
        running = [p for p in org.stack.processes.values() if p.proc and p.proc.poll() is None]
        await wait_ready(running, timeout=120)
    accounting = await burst.account(
        org.stack.url("incidents"),
        org.token(),
        planned,
        sent,
        alerts_topic=org.alerts_topic(),
        since=started,
    )
    print(accounting.line(label))
    return accounting


def _assert_exact(accounting: burst.Accounting) -> None:
    assert accounting.sent.accepted == accounting.sent.deliveries
    assert accounting.lost == 0, accounting
    assert accounting.duplicated == 0, accounting
    assert accounting.out_of_order == 0, accounting
    assert accounting.incidents == BURST


async def test_topics_are_replicated_with_min_isr_and_compacted_where_the_contracts_say(
    org: Org, cluster: infra.Broker
) -> None:
    prefix = org.stack.topic_prefix
    names = {prefix + spec.name: spec for spec in topics.ALL_TOPICS}
    configs = await topic_configs(cluster.bootstrap, list(names))
    for name, spec in names.items():
        layout = await partitions(cluster.bootstrap, name)
        assert len(layout) == PARTITIONS, name
        assert all(len(p["replicas"]) == 3 for p in layout.values()), (name, layout)
        assert configs[name]["min.insync.replicas"] == "2", name
        expected = "compact" if spec.compacted else "delete"
        assert configs[name]["cleanup.policy"] == expected, name


async def test_two_replicas_of_each_service_share_the_partitions_and_both_do_work(
    org: Org, cluster: infra.Broker
) -> None:
    accounting = await _run_burst(org, "scale-out")
    _assert_exact(accounting)
    prefix = org.stack.topic_prefix  # consumer groups are prefixed like the topics
    for service in ("identity", "auth", "incidents", "pagerduty-ingest"):
        owners = await group_assignments(cluster.bootstrap, f"{prefix}fireline-{service}")
        assert len(owners) == 2, (service, owners)
        assert all(owned for owned in owners), f"a {service} replica owns no partition: {owners}"
    alerts = org.stack.topic_prefix + topics.ALERTS.name
    worked = []
    async with httpx.AsyncClient(timeout=5) as client:
        for name in org.stack.replicas("incidents"):
            metrics = (await client.get(f"{org.stack.url(name)}/metrics")).text
            worked.append(_consumed(metrics, "alerts"))
    assert all(n > 0 for n in worked), f"alerts applied per incidents replica: {worked}"
    owners = await group_assignments(cluster.bootstrap, f"{prefix}fireline-incidents")
    assert all(any(tp.topic == alerts for tp in owned) for owned in owners), owners


def _consumed(metrics: str, handler_hint: str) -> float:
    """Events a replica applied for handlers whose name mentions ``handler_hint``."""
    total = 0.0
    for line in metrics.splitlines():
        if (
            line.startswith("fireline_events_consumed_total{")
            and handler_hint in line
            and 'outcome="ok"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_killing_the_alerts_partitions_leader_mid_burst_loses_and_doubles_nothing(
    org: Org, cluster: infra.Broker
) -> None:
    alerts = org.stack.topic_prefix + topics.ALERTS.name
    leaders = [p["leader"] for p in (await partitions(cluster.bootstrap, alerts)).values()]
    victim = max(set(leaders), key=leaders.count)

    async def kill_then_restart() -> AsyncIterator[None]:
        await asyncio.to_thread(cluster.cluster.kill, victim)
        yield
        await asyncio.to_thread(cluster.cluster.start_node, victim)
        yield

    accounting = await _run_burst(org, f"kill -9 broker {victim}", kill_then_restart())
    _assert_exact(accounting)


@pytest.mark.parametrize("service", ["incidents", "pagerduty-ingest"])
async def test_killing_one_of_two_replicas_mid_burst_moves_its_work_to_the_other(
    org: Org, service: str
) -> None:
    victim = org.stack.processes[org.stack.replicas(service)[-1]]

    async def kill() -> AsyncIterator[None]:
        victim.kill()
        yield

    accounting = await _run_burst(org, f"kill -9 {service} replica", kill())
    _assert_exact(accounting)


async def test_a_revocation_made_while_a_broker_is_down_reaches_every_service(
    org: Org, cluster: infra.Broker
) -> None:
    async with httpx.AsyncClient(base_url=org.stack.url("identity"), timeout=10) as identity:
        login = {"email": org.stack.admin_email, "password": org.stack.admin_password}
        assert (await identity.post("/v1/session", json=login)).status_code == 200
        created = await identity.post("/v1/api-keys", json={"name": "revoked while degraded"})
        key = created.json()
        credentials = (str(key["id"]), str(key["key"]))
        assert await wait_for(lambda: _exchanges(org, credentials), timeout=30)
        token = org.token(credentials)
        readers = _token_readers(org.stack)
        statuses = [await _status(url, token) for url in readers]
        assert statuses == [200] * len(readers), "the token works at first"

        keys_topic = org.stack.topic_prefix + topics.KEYS.name
        leaders = [p["leader"] for p in (await partitions(cluster.bootstrap, keys_topic)).values()]
        victim = max(set(leaders), key=leaders.count)
        await asyncio.to_thread(cluster.cluster.kill, victim)
        assert (await identity.delete(f"/v1/api-keys/{key['id']}")).status_code == 204

    answers: dict[str, int | str] = {}

    async def refused_everywhere() -> bool:
        answers["exchange"] = "ok" if await _exchanges(org, credentials) else "refused"
        for url in readers:
            answers[url] = await _status(url, token)
        return answers["exchange"] == "refused" and all(answers[u] == 401 for u in readers)

    refused = await wait_for(refused_everywhere, timeout=120)
    assert refused, f"a service still accepts the key (last answers: {answers})"


def _token_readers(stack: Stack) -> list[str]:
    """An authenticated read on every replica of each service that checks access tokens."""
    return [
        f"{stack.url(name)}{path}"
        for service, path in (
            ("incidents", "/v1/incidents?limit=1"),
            ("pagerduty-ingest", "/v1/integrations/pagerduty"),
        )
        for name in stack.replicas(service)
    ]


async def _status(url: str, token: str) -> int:
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(url, headers={"Authorization": f"Bearer {token}"})
    return r.status_code


async def _exchanges(org: Org, credentials: tuple[str, str]) -> bool:
    """Does every auth replica exchange this key?"""
    async with httpx.AsyncClient(timeout=10) as client:
        for name in org.stack.replicas("auth"):
            r = await client.post(
                f"{org.stack.url(name)}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=credentials,
            )
            if r.status_code != 200:
                return False
    return True


async def test_the_whole_cluster_stopped_past_the_delivery_timeout_loses_nothing(
    org: Org, cluster: infra.Broker
) -> None:
    alerts = org.stack.topic_prefix + topics.ALERTS.name
    seen: dict[str, object] = {}
    group = f"{org.stack.topic_prefix}fireline-incidents"

    async def outage() -> AsyncIterator[None]:
        seen["offsets"] = await committed_offsets(cluster.bootstrap, group)
        await asyncio.to_thread(cluster.cluster.stop)
        # Longer than the relay's producer gives a send (request_timeout_ms 5 s) several times
        # over: sends fail, and the outbox must keep every event until the cluster is back.
        await asyncio.sleep(15)
        await asyncio.to_thread(cluster.cluster.start)
        yield

    accounting = await _run_burst(org, "whole cluster stopped 15 s", outage())
    _assert_exact(accounting)
    after = await committed_offsets(cluster.bootstrap, group)
    before = seen["offsets"]
    assert isinstance(before, dict)
    on_alerts = [tp for tp in before if tp.topic == alerts]
    assert on_alerts, "the incidents group had committed offsets before the outage"
    # Committed offsets survived the restart (the consumers went on from them, not from 0).
    assert all(after[tp] >= before[tp] for tp in on_alerts), (before, after)
