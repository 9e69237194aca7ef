"""Live updates over Server-Sent Events from two incidents replicas, each reading every change of
fireline.incidents.v1 itself: a browser on either replica sees everything of its org, and a
reconnection with Last-Event-ID on the other replica loses and repeats nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import httpx
import pytest

from fireline_devtools.postgres import Postgres
from support import infra
from support.credentials import access_token, admin_session, exchange_at, new_key, new_org
from support.sse import SseEvent, SseStream, open_stream
from support.stack import Stack, running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def replicated(postgres: Postgres, kafka_broker: infra.Broker) -> Iterator[Stack]:
    with running_stack(postgres, kafka_broker, replicas={"incidents": 2}) as stack:
        yield stack


def _replicas(stack: Stack) -> tuple[str, str]:
    return stack.processes["incidents"].url, stack.processes["incidents#2"].url


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _start(client: httpx.AsyncClient, replica: str, token: str, title: str) -> str:
    r = await client.post(f"{replica}/v1/incidents", json={"title": title}, headers=_bearer(token))
    assert r.status_code == 201, r.text
    incident_id: str = r.json()["id"]
    return incident_id


async def _note(client: httpx.AsyncClient, replica: str, token: str, incident_id: str) -> None:
    r = await client.post(
        f"{replica}/v1/incidents/{incident_id}/timeline",
        json={"text": "last word"},
        headers=_bearer(token),
    )
    assert r.status_code == 201, r.text


def _noted(incident_ids: set[str]) -> Callable[[list[SseEvent]], bool]:
    """Done once every incident's note, its last event, has arrived."""

    def done(events: list[SseEvent]) -> bool:
        notes = {
            e.incident_id
            for e in events
            if e.event == "IncidentTimelineEntryAdded" and e.json["payload"]["kind"] == "note"
        }
        return incident_ids <= notes

    return done


def _event_ids(stream: SseStream) -> list[str]:
    return [e.json["event_id"] for e in stream.events if e.event.startswith("Incident")]


def test_a_browser_on_either_replica_sees_every_change_of_its_org(replicated: Stack) -> None:
    stack = replicated
    token = access_token(stack, admin_session(stack), "live updates")
    first, second = _replicas(stack)

    async def scenario() -> tuple[SseStream, SseStream]:
        async with (
            httpx.AsyncClient(timeout=30) as client,
            open_stream(client, f"{first}/v1/incident-events", _bearer(token)) as on_first,
            open_stream(client, f"{second}/v1/incident-events", _bearer(token)) as on_second,
        ):
            assert (on_first.status, on_second.status) == (200, 200)
            for stream in (on_first, on_second):
                await stream.wait(lambda events: any(e.event == "ready" for e in events))
            # Written through both replicas: each replica's stream must show all of them.
            created = [
                await _start(client, replica, token, f"live {n}")
                for n, replica in enumerate([first, second, first, second])
            ]
            for incident_id, replica in zip(created, [second, first, first, second], strict=True):
                await _note(client, replica, token, incident_id)
            for stream in (on_first, on_second):
                await stream.wait(_noted(set(created)))
            return on_first, on_second

    on_first, on_second = asyncio.run(scenario())

    assert sorted(_event_ids(on_first)) == sorted(_event_ids(on_second))
    for stream in (on_first, on_second):
        ids = _event_ids(stream)
        assert len(ids) == len(set(ids)), "an event was sent twice"
        assert len(stream.of_type("IncidentStarted")) == 4


def test_a_dropped_stream_resumes_on_the_other_replica_without_loss_or_repeat(
    replicated: Stack,
) -> None:
    stack = replicated
    token = access_token(stack, admin_session(stack), "live resume")
    first, second = _replicas(stack)

    async def scenario() -> tuple[SseStream, SseStream, SseStream]:
        async with (
            httpx.AsyncClient(timeout=30) as client,
            open_stream(client, f"{second}/v1/incident-events", _bearer(token)) as reference,
        ):
            await reference.wait(lambda events: any(e.event == "ready" for e in events))
            async with open_stream(
                client, f"{first}/v1/incident-events", _bearer(token)
            ) as dropped:
                await dropped.wait(lambda events: any(e.event == "ready" for e in events))
                before = await _start(client, first, token, "before the drop")
                await dropped.wait(lambda events: any(e.incident_id == before for e in events))
            # Disconnected: these happen while the browser is away.
            during = [await _start(client, second, token, f"during {n}") for n in range(3)]
            for incident_id in [before, *during]:
                await _note(client, first, token, incident_id)
            await reference.wait(_noted({before, *during}))
            assert dropped.last_id is not None
            async with open_stream(
                client,
                f"{second}/v1/incident-events",
                {**_bearer(token), "Last-Event-ID": dropped.last_id},
            ) as resumed:
                await resumed.wait(_noted({before, *during}))
                await resumed.wait(lambda events: any(e.event == "ready" for e in events))
                return reference, dropped, resumed

    reference, dropped, resumed = asyncio.run(scenario())

    seen_before = set(_event_ids(dropped))
    missed = [i for i in _event_ids(reference) if i not in seen_before]
    assert missed, "nothing happened while the stream was away"
    assert not resumed.of_type("reset")
    # Exactly what was missed: nothing lost, nothing repeated.
    assert sorted(_event_ids(resumed)) == sorted(missed)


def test_streams_are_org_scoped_and_authenticated(replicated: Stack) -> None:
    stack = replicated
    token = access_token(stack, admin_session(stack), "live org a")
    first, _second = _replicas(stack)
    other_admin, password = new_org(stack)
    other_identity = httpx.Client(base_url=stack.url("identity"), timeout=10)
    assert other_identity.post(
        "/v1/session", json={"email": other_admin, "password": password}
    ).is_success
    other_key = new_key(other_identity, "other org live")
    other_token = exchange_at(stack.url("auth"), (other_key["id"], other_key["key"]))

    async def scenario() -> tuple[SseStream, SseStream, str, str]:
        async with (
            httpx.AsyncClient(timeout=30) as client,
            open_stream(client, f"{first}/v1/incident-events", _bearer(token)) as mine,
            open_stream(client, f"{first}/v1/incident-events", _bearer(other_token)) as theirs,
        ):
            for stream in (mine, theirs):
                await stream.wait(lambda events: any(e.event == "ready" for e in events))
            ours = await _start(client, first, token, "ours")
            their_own = await _start(client, first, other_token, "theirs")
            await _note(client, first, token, ours)
            await _note(client, first, other_token, their_own)
            await mine.wait(_noted({ours}))
            await theirs.wait(_noted({their_own}))
            return mine, theirs, ours, their_own

    mine, theirs, ours, their_own = asyncio.run(scenario())

    org = admin_session(stack).get("/v1/me").json()["org_id"]
    other_org = other_identity.get("/v1/me").json()["org_id"]
    changes = [e for e in mine.events if e.incident_id]
    other_changes = [e for e in theirs.events if e.incident_id]
    assert changes
    assert other_changes
    assert {e.json["org_id"] for e in changes} == {org}
    assert {e.json["org_id"] for e in other_changes} == {other_org}
    assert their_own not in {e.incident_id for e in changes}
    assert ours not in {e.incident_id for e in other_changes}

    anonymous = httpx.get(f"{first}/v1/incident-events", timeout=10)
    assert anonymous.status_code == 401
    bad = httpx.get(
        f"{first}/v1/incident-events",
        headers={**_bearer(token), "Last-Event-ID": "not a position"},
        timeout=10,
    )
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"
