"""Fan-out, dispatch, retries, disabling and the delivery log, on real PostgreSQL.

The use cases and the dispatcher run against the service's own tables (migrated as the service
migrates them) and send over real HTTP to a receiver on loopback; a clock the test moves stands
in for the days a retry schedule takes.
"""

from __future__ import annotations

import ipaddress
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from fireline_contracts import IncidentStatusChanged, IncidentStatusChangedPayload
from fireline_notifications.adapters.http import HttpSender
from fireline_notifications.adapters.postgres import PgUnitOfWork
from fireline_notifications.domain.addresses import AllowList, IPAddress
from fireline_notifications.domain.commands import ChangeEndpoint, NewEndpoint
from fireline_notifications.domain.endpoint import Endpoint, Format
from fireline_notifications.domain.message import IncidentSnapshot, Notice
from fireline_notifications.entrypoints.consumers import incidents_consumer
from fireline_notifications.service_layer import deliveries, endpoints
from fireline_notifications.service_layer.dispatch import Dispatcher, DispatchSettings
from fireline_notifications.service_layer.fanout import Ready, fan_out, fan_out_batch
from fireline_notifications.service_layer.unit_of_work import UnitOfWork
from fireline_notifications.service_layer.urls import UrlPolicy
from fireline_runtime.db import create_pool
from fireline_runtime.migrations import apply, load, runtime_migrations
from fireline_runtime.outbox import OutboxWriter
from fireline_runtime.secret_box import SecretBox
from fireline_runtime.unit_of_work import UnitOfWorkFactory
from support.incident_events import incident_started
from support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = 3600.0


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


class Resolver:
    """DNS whose answers the test sets (what a hostile name server could do)."""

    def __init__(self) -> None:
        self.answers: dict[str, list[IPAddress]] = {}

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        if host in self.answers:
            return list(self.answers[host])
        return [ipaddress.ip_address(host)]


@dataclass
class Store:
    pool: asyncpg.Pool
    uow: UnitOfWorkFactory[UnitOfWork]
    clock: Clock
    resolver: Resolver
    urls: UrlPolicy
    http: httpx.AsyncClient

    def dispatcher(self, *schedule: float, per_endpoint: int = 4) -> Dispatcher:
        return Dispatcher(
            uow=self.uow,
            sender=HttpSender(self.http, urls=self.urls, timeout_s=15),
            settings=DispatchSettings(
                schedule=schedule or (HOUR,) * 10,
                disable_after=timedelta(days=5),
                per_endpoint=per_endpoint,
                max_in_flight=50,
                lease=timedelta(seconds=60),
            ),
            now=self.clock,
        )

    async def endpoint(
        self,
        url: str,
        *,
        org: uuid.UUID | None = None,
        event_types: tuple[str, ...] = (),
        format_: Format = "standard",
    ) -> tuple[Endpoint, str]:
        command = NewEndpoint(
            org_id=org or uuid.uuid4(),
            url=url,
            description="",
            event_types=event_types,
            format=format_,
        )
        return await endpoints.create_endpoint(
            uow=self.uow(), command=command, urls=self.urls, now=self.clock()
        )

    async def value(self, sql: str, *args: object) -> object:
        async with self.pool.acquire() as conn:
            return await conn.fetchval(sql, *args)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
async def store(database: str) -> AsyncIterator[Store]:
    pool = await create_pool(database, max_size=5)
    async with pool.acquire() as conn:
        await apply(
            conn,
            [*runtime_migrations(), *load("notifications", "fireline_notifications.migrations")],
        )
    box = SecretBox(os.urandom(32))
    outbox = OutboxWriter("it.")
    uow = UnitOfWorkFactory[UnitOfWork](
        lambda conn: PgUnitOfWork(outbox, box, conn=conn, pool=pool if conn is None else None)
    )
    resolver = Resolver()
    urls = UrlPolicy(AllowList.parse("127.0.0.1"), resolver)
    async with httpx.AsyncClient(follow_redirects=False) as http:
        yield Store(pool, uow, Clock(), resolver, urls, http)
    await pool.close()


def _notice(org: uuid.UUID, event_type: str = "incident.started") -> Notice:
    incident = uuid.uuid4()
    return Notice(
        event_id=uuid.uuid4(),
        org_id=org,
        incident_id=incident,
        event_type=event_type,
        occurred_at=T0,
        data={"incident_id": str(incident), "title": "Disk full"},
        summary="Incident #1 started: Disk full",
        snapshot=IncidentSnapshot(incident, org, number=1, title="Disk full", status="triggered"),
    )


async def _run(dispatcher: Dispatcher) -> None:
    await dispatcher.pass_once()
    await dispatcher.drain()


async def test_an_event_becomes_one_delivery_per_matching_enabled_endpoint_and_a_replay_none(
    store: Store, receiver: WebhookReceiver
) -> None:
    org = uuid.uuid4()
    everything, _ = await store.endpoint(receiver.url("/all"), org=org)
    started, _ = await store.endpoint(
        receiver.url("/started"), org=org, event_types=("incident.started",)
    )
    await store.endpoint(receiver.url("/status"), org=org, event_types=("incident.status_changed",))
    paused, _ = await store.endpoint(receiver.url("/paused"), org=org)
    await endpoints.change_endpoint(
        uow=store.uow(),
        command=ChangeEndpoint(org_id=org, endpoint_id=paused.id, enabled=False),
        urls=store.urls,
        now=store.clock(),
    )
    await store.endpoint(receiver.url("/other-org"))
    notice = _notice(org)

    stored = await fan_out(uow=store.uow(), notice=notice, incident_url_base="https://f/i")
    again = await fan_out(uow=store.uow(), notice=notice, incident_url_base="https://f/i")

    assert (stored, again) == (2, 0)
    rows = await store.value("SELECT array_agg(endpoint_id ORDER BY endpoint_id) FROM deliveries")
    assert rows == sorted([everything.id, started.id])


async def test_a_batch_stores_only_what_subscribers_want_and_a_replay_of_it_nothing(
    store: Store, receiver: WebhookReceiver
) -> None:
    quiet, busy = uuid.uuid4(), uuid.uuid4()  # ``quiet`` has no endpoint at all
    started, _ = await store.endpoint(
        receiver.url("/started"), org=busy, event_types=("incident.started",)
    )
    everything, _ = await store.endpoint(receiver.url("/all"), org=busy)
    notices = [
        _notice(quiet),
        _notice(busy),
        _notice(quiet, "incident.status_changed"),
        _notice(busy, "incident.status_changed"),
    ]

    arrivals = [Ready(n) for n in notices]
    done = await fan_out_batch(uow=store.uow(), arrivals=arrivals, incident_url_base="https://f/i")
    again = await fan_out_batch(uow=store.uow(), arrivals=arrivals, incident_url_base="https://f/i")

    assert (done.stored, again.stored) == (3, 0)
    assert done.owing == {notices[1].event_id, notices[3].event_id}
    rows = await store.value(
        "SELECT array_agg(endpoint_id::text || ' ' || event_type) FROM deliveries"
        " WHERE org_id = $1",
        busy,
    )
    assert isinstance(rows, list)
    assert sorted(rows) == sorted(
        [
            f"{started.id} incident.started",
            f"{everything.id} incident.started",
            f"{everything.id} incident.status_changed",
        ]
    )
    # Nothing of the quiet org's events, and no incident kept for Slack where nobody reads it.
    assert await store.value("SELECT count(*) FROM deliveries WHERE org_id = $1", quiet) == 0
    assert await store.value("SELECT count(*) FROM incidents") == 0


async def test_the_consumer_wakes_the_dispatcher_after_the_commit_of_events_that_owe_deliveries(
    store: Store, receiver: WebhookReceiver
) -> None:
    hook, _ = await store.endpoint(receiver.url("/hook"), event_types=("incident.started",))
    wakes: list[int] = []
    handler = incidents_consumer(
        store.uow, incident_url_base="https://f/i", wake=lambda: wakes.append(1)
    )
    assert handler.handle_batch is not None
    assert handler.after_commit is not None
    owed, elsewhere = incident_started(hook.org_id), incident_started(uuid.uuid4())
    unwanted = IncidentStatusChanged(  # the endpoint wants only starts
        org_id=hook.org_id,
        payload=IncidentStatusChangedPayload(
            incident_id=owed.payload.incident_id,
            status="resolved",
            previous_status="triggered",
            changed_at=T0,
        ),
    )
    events = [owed, elsewhere, unwanted]

    async with store.pool.acquire() as conn, conn.transaction():
        await handler.handle_batch(conn, events)
        uncommitted = len(wakes)
    for event in events:
        handler.after_commit(event)

    assert uncommitted == 0  # the dispatcher would find nothing before the commit
    assert len(wakes) == 1  # only ``owed`` has a delivery
    body = await store.value("SELECT body FROM deliveries WHERE endpoint_id = $1", hook.id)
    assert isinstance(body, str)
    assert json.loads(body)["data"]["incident_id"] == str(owed.payload.incident_id)


async def test_a_start_owes_a_timeline_subscriber_each_entry_it_carries_in_order(
    store: Store, receiver: WebhookReceiver
) -> None:
    hook, _ = await store.endpoint(
        receiver.url("/entries"), event_types=("incident.timeline_entry_added",)
    )
    wakes: list[int] = []
    handler = incidents_consumer(
        store.uow, incident_url_base="https://f/i", wake=lambda: wakes.append(1)
    )
    assert handler.handle_batch is not None
    assert handler.after_commit is not None
    start = incident_started(hook.org_id, first_entries=("started", "triggered"))

    for _ in range(2):  # a redelivery finds the same deliveries
        async with store.pool.acquire() as conn, conn.transaction():
            await handler.handle_batch(conn, [start])
        handler.after_commit(start)

    # The endpoint takes no starts, yet the start owed it deliveries: the commit woke the
    # dispatcher each time.
    assert len(wakes) == 2
    rows = await store.pool.fetch(
        "SELECT id, body FROM deliveries WHERE endpoint_id = $1 ORDER BY next_attempt_at, id",
        hook.id,
    )
    entries = start.payload.timeline
    assert [r["id"] for r in rows] == [uuid.uuid5(hook.id, str(e.entry_id)) for e in entries]
    bodies = [json.loads(r["body"]) for r in rows]
    assert [(b["type"], b["data"]["kind"]) for b in bodies] == [
        ("incident.timeline_entry_added", "started"),
        ("incident.timeline_entry_added", "triggered"),
    ]


async def test_slack_messages_in_one_batch_show_the_incident_as_of_each_event(
    store: Store, receiver: WebhookReceiver
) -> None:
    hook, _ = await store.endpoint(receiver.url("/slack"), format_="slack")
    started = _notice(hook.org_id)
    acknowledged = Notice(
        event_id=uuid.uuid4(),
        org_id=hook.org_id,
        incident_id=started.incident_id,
        event_type="incident.status_changed",
        occurred_at=T0,
        data={"incident_id": str(started.incident_id), "status": "acknowledged"},
        summary="Status changed from triggered to acknowledged",
        snapshot=IncidentSnapshot(started.incident_id, hook.org_id, status="acknowledged"),
    )

    await fan_out_batch(
        uow=store.uow(),
        arrivals=[Ready(started), Ready(acknowledged)],
        incident_url_base="https://f/i",
    )
    await _run(store.dispatcher())

    messages = [json.loads(r.body) for r in receiver.received("/slack")]
    # Both headers carry the title only the first event told; each status is its own event's.
    statuses = {m["text"]: m["blocks"][1]["fields"][1]["text"] for m in messages}
    assert statuses == {
        "#1 Disk full: Incident #1 started: Disk full": "*Status*\ntriggered",
        "#1 Disk full: Status changed from triggered to acknowledged": "*Status*\nacknowledged",
    }
    kept = await store.value(
        "SELECT status FROM incidents WHERE incident_id = $1", started.incident_id
    )
    assert kept == "acknowledged"


async def test_a_failing_endpoint_is_retried_with_one_id_and_disabled_after_five_days(
    store: Store, receiver: WebhookReceiver
) -> None:
    receiver.answer("/down", then=503)
    hook, _ = await store.endpoint(receiver.url("/down"))
    await fan_out(uow=store.uow(), notice=_notice(hook.org_id), incident_url_base="https://f/i")
    dispatcher = store.dispatcher()

    await _run(dispatcher)  # day 0
    store.clock.advance(timedelta(days=2))
    await _run(dispatcher)
    store.clock.advance(timedelta(days=3))
    await _run(dispatcher)  # five days after the first failure
    store.clock.advance(timedelta(days=1))
    await _run(dispatcher)  # disabled: nothing more is sent

    got = receiver.received("/down")
    assert len(got) == 3
    assert len({r.headers["webhook-id"] for r in got}) == 1
    endpoint = await endpoints.get_endpoint(
        uow=store.uow(), org_id=hook.org_id, endpoint_id=hook.id
    )
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "failing")
    assert endpoint.failing_since == T0
    page = await deliveries.list_attempts(
        uow=store.uow(), org_id=hook.org_id, endpoint_id=hook.id, cursor=None, limit=10
    )
    assert [(a.status_code, a.outcome) for a in page.items] == [(503, "retrying")] * 3
    published = await store.value(
        "SELECT count(*) FROM outbox WHERE topic = $1 AND event_type = $2 AND kafka_key = $3",
        "it.fireline.notifications.v1",
        "WebhookEndpointDisabled",
        str(hook.id),
    )
    assert published == 1


async def test_a_success_ends_the_run_of_failures(store: Store, receiver: WebhookReceiver) -> None:
    receiver.answer("/flaky", 500, then=200)
    hook, _ = await store.endpoint(receiver.url("/flaky"))
    await fan_out(uow=store.uow(), notice=_notice(hook.org_id), incident_url_base="https://f/i")
    dispatcher = store.dispatcher()

    await _run(dispatcher)
    store.clock.advance(timedelta(hours=2))
    await _run(dispatcher)

    endpoint = await endpoints.get_endpoint(
        uow=store.uow(), org_id=hook.org_id, endpoint_id=hook.id
    )
    assert (endpoint.enabled, endpoint.failing_since) == (True, None)
    state = await store.value("SELECT state FROM deliveries WHERE endpoint_id = $1", hook.id)
    assert state == "succeeded"


async def test_slacks_429_is_retried_when_retry_after_says_without_using_a_retry(
    store: Store, receiver: WebhookReceiver
) -> None:
    receiver.answer("/slack", 429, then=200, retry_after="120")
    hook, _ = await store.endpoint(receiver.url("/slack"), format_="slack")
    await fan_out(uow=store.uow(), notice=_notice(hook.org_id), incident_url_base="https://f/i")
    dispatcher = store.dispatcher()

    await _run(dispatcher)
    due = await store.value(
        "SELECT next_attempt_at FROM deliveries WHERE endpoint_id = $1", hook.id
    )
    step = await store.value("SELECT schedule_step FROM deliveries WHERE endpoint_id = $1", hook.id)
    store.clock.advance(timedelta(seconds=119))
    await _run(dispatcher)  # not due yet
    early = len(receiver.received("/slack"))
    store.clock.advance(timedelta(seconds=2))
    await _run(dispatcher)

    assert (due, step, early) == (T0 + timedelta(seconds=120), 0, 1)
    statuses = [r.status for r in receiver.received("/slack")]
    assert statuses == [429, 200]
    page = await deliveries.list_attempts(
        uow=store.uow(), org_id=hook.org_id, endpoint_id=hook.id, cursor=None, limit=10
    )
    assert [a.outcome for a in page.items] == ["succeeded", "rate_limited"]


async def test_410_disables_at_once_and_publishes_it(
    store: Store, receiver: WebhookReceiver
) -> None:
    receiver.answer("/gone", then=410)
    hook, _ = await store.endpoint(receiver.url("/gone"))
    for _ in range(3):
        await fan_out(uow=store.uow(), notice=_notice(hook.org_id), incident_url_base="https://f/i")

    await _run(store.dispatcher(per_endpoint=1))
    store.clock.advance(timedelta(hours=1))
    await _run(store.dispatcher(per_endpoint=1))

    assert len(receiver.received("/gone")) == 1
    endpoint = await endpoints.get_endpoint(
        uow=store.uow(), org_id=hook.org_id, endpoint_id=hook.id
    )
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "gone")
    disabled = "SELECT count(*) FROM outbox WHERE event_type = 'WebhookEndpointDisabled'"
    assert await store.value(disabled) == 1
    waiting = await store.value("SELECT count(*) FROM deliveries WHERE state = 'pending'")
    assert waiting == 2  # kept for when an admin enables it again


async def test_redirects_are_not_followed(store: Store, receiver: WebhookReceiver) -> None:
    receiver.answer("/moved", then=302, location=receiver.url("/elsewhere"))
    hook, _ = await store.endpoint(receiver.url("/moved"))
    await fan_out(uow=store.uow(), notice=_notice(hook.org_id), incident_url_base="https://f/i")

    await _run(store.dispatcher())

    assert len(receiver.received("/moved")) == 1
    assert receiver.received("/elsewhere") == []
    page = await deliveries.list_attempts(
        uow=store.uow(), org_id=hook.org_id, endpoint_id=hook.id, cursor=None, limit=10
    )
    assert [(a.status_code, a.outcome) for a in page.items] == [(302, "retrying")]


async def test_a_name_that_resolves_inside_at_send_time_is_refused_there(
    store: Store, receiver: WebhookReceiver
) -> None:
    # Public when the endpoint is saved; loopback (where the receiver listens) when it is sent to,
    # and loopback not allow-listed here.
    store.urls = UrlPolicy(AllowList(), store.resolver)
    store.resolver.answers["rebind.example"] = [ipaddress.ip_address("93.184.216.34")]
    port = receiver.url("/x").rsplit(":", 1)[1].split("/")[0]
    hook, _ = await store.endpoint(f"https://rebind.example:{port}/x")
    store.resolver.answers["rebind.example"] = [ipaddress.ip_address("127.0.0.1")]
    await fan_out(uow=store.uow(), notice=_notice(hook.org_id), incident_url_base="https://f/i")

    await _run(store.dispatcher())

    assert receiver.received("/x") == []
    page = await deliveries.list_attempts(
        uow=store.uow(), org_id=hook.org_id, endpoint_id=hook.id, cursor=None, limit=10
    )
    (attempt,) = page.items
    assert attempt.status_code is None
    assert attempt.error is not None
    assert attempt.error.startswith("refused: rebind.example resolves to a private")


async def test_claims_take_each_endpoints_free_slots_and_come_back_after_the_lease(
    store: Store, receiver: WebhookReceiver
) -> None:
    org = uuid.uuid4()
    busy, _ = await store.endpoint(receiver.url("/busy"), org=org)
    calm, _ = await store.endpoint(
        receiver.url("/calm"), org=org, event_types=("incident.started",)
    )
    for _ in range(5):
        await fan_out(
            uow=store.uow(), notice=_notice(org, "incident.status_changed"), incident_url_base="x"
        )
    await fan_out(uow=store.uow(), notice=_notice(org), incident_url_base="x")
    lease = timedelta(seconds=60)

    async def claim(in_flight: dict[uuid.UUID, int], at: datetime) -> list[uuid.UUID]:
        async with store.uow() as uow:
            claimed = await uow.deliveries.claim(
                per_endpoint=2, total=10, in_flight=in_flight, now=at, lease_until=at + lease
            )
        return [d.endpoint_id for d in claimed]

    first = await claim({}, T0)
    at_capacity = await claim({busy.id: 2}, T0)
    one_slot_free = await claim({busy.id: 1}, T0)
    after_lease = await claim({}, T0 + lease + timedelta(seconds=1))

    assert (first.count(busy.id), first.count(calm.id)) == (2, 1)  # calm has one delivery
    assert at_capacity == []  # and what calm has is leased
    assert one_slot_free == [busy.id]
    # The first claims' leases ran out (no attempt was recorded): due again, to the same cap.
    assert (after_lease.count(busy.id), after_lease.count(calm.id)) == (2, 1)


async def test_the_delivery_log_pages_through_every_attempt_once(
    store: Store, receiver: WebhookReceiver
) -> None:
    receiver.answer("/log", then=500)
    hook, _ = await store.endpoint(receiver.url("/log"))
    for _ in range(5):
        await fan_out(uow=store.uow(), notice=_notice(hook.org_id), incident_url_base="x")
    await _run(store.dispatcher(per_endpoint=5))

    seen: list[uuid.UUID] = []
    cursor: str | None = None
    while True:
        page = await deliveries.list_attempts(
            uow=store.uow(), org_id=hook.org_id, endpoint_id=hook.id, cursor=cursor, limit=2
        )
        seen += [a.id for a in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert len(seen) == len(set(seen)) == 5


async def test_a_retry_by_hand_sends_again_under_the_same_id(
    store: Store, receiver: WebhookReceiver
) -> None:
    receiver.answer("/again", then=200)
    hook, _ = await store.endpoint(receiver.url("/again"))
    await fan_out(uow=store.uow(), notice=_notice(hook.org_id), incident_url_base="x")
    await _run(store.dispatcher())
    (first,) = receiver.received("/again")
    delivery_id = await store.value("SELECT id FROM deliveries")
    assert isinstance(delivery_id, uuid.UUID)

    await deliveries.retry_delivery(
        uow=store.uow(),
        org_id=hook.org_id,
        endpoint_id=hook.id,
        delivery_id=delivery_id,
        now=store.clock(),
    )
    await _run(store.dispatcher())

    second = receiver.received("/again")[1]
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    assert second.body == first.body


async def test_pruning_deletes_old_finished_deliveries_with_their_log_and_keeps_pending_ones(
    store: Store, receiver: WebhookReceiver
) -> None:
    receiver.answer("/ok", then=200)
    receiver.answer("/down", then=500)
    ok, _ = await store.endpoint(receiver.url("/ok"))
    down, _ = await store.endpoint(receiver.url("/down"))
    await fan_out(uow=store.uow(), notice=_notice(ok.org_id), incident_url_base="x")
    await fan_out(uow=store.uow(), notice=_notice(down.org_id), incident_url_base="x")
    await _run(store.dispatcher())

    kept = await deliveries.prune_deliveries(uow=store.uow(), finished_before=T0)
    pruned = await deliveries.prune_deliveries(
        uow=store.uow(), finished_before=T0 + timedelta(seconds=1)
    )

    assert (kept, pruned) == (0, 1)
    assert await store.value("SELECT count(*) FROM deliveries") == 1
    assert (
        await store.value("SELECT count(*) FROM delivery_attempts WHERE endpoint_id = $1", ok.id)
        == 0
    )


async def test_secrets_and_urls_are_sealed_at_rest(store: Store, receiver: WebhookReceiver) -> None:
    hook, secret = await store.endpoint(receiver.url("/sealed?token=abc"))

    async with store.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT e.url_sealed, s.secret_sealed FROM webhook_endpoints e"
            " JOIN endpoint_secrets s ON s.endpoint_id = e.id WHERE e.id = $1",
            hook.id,
        )
    assert row is not None
    assert b"token=abc" not in bytes(row["url_sealed"])
    assert secret.encode() not in bytes(row["secret_sealed"])
    assert secret.removeprefix("whsec_").encode() not in bytes(row["secret_sealed"])
