"""The events that grant access: only identity's signed records count, and a revocation holds
within the bound while the broker is down.

A forged ``KeyCreated`` is produced straight to the broker, as anyone who can write to the topic
(a superuser, a broker misconfiguration) could; identity's signature is what makes auth refuse it.
With the broker killed, a key revoked in identity is refused by auth, incidents and ingest once
their view of identity's keys is older than the bound (FIRELINE_KEYS_VIEW_MAX_AGE_S, 10 s), and
everything answers again once the broker is back.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from fireline_contracts import KEYS, KeyCreated, KeyCreatedPayload, api_keys, dlq_name, utc_now
from fireline_contracts.scopes import ALL_SCOPES
from fireline_runtime.event_signing import HEADER, EventSigner, generate_private_key
from support.credentials import exchange, new_key, new_org
from support.kafka import client_options, read_to_end
from support.stack import Stack

pytestmark = pytest.mark.e2e

WAIT_S = 90.0


def _login(stack: Stack, email: str, password: str) -> httpx.Client:
    identity = httpx.Client(base_url=stack.url("identity"), timeout=10)
    r = identity.post("/v1/session", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return identity


def _token_at(stack: Stack, credentials: tuple[str, str]) -> httpx.Response:
    return httpx.post(
        f"{stack.url('auth')}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=credentials,
        timeout=10,
    )


def _until(check: Callable[[], httpx.Response | None], what: str) -> httpx.Response:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        answer = check()
        if answer is not None:
            return answer
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {WAIT_S} s")


async def _produce(
    bootstrap: str, topic: str, records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]
) -> None:
    # As the broker's super user: the ACLs let no service but identity write the keys topic, so
    # only someone holding the administrator's credentials could put a forged record there.
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", **client_options(bootstrap)
    )
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


def test_a_forged_key_event_written_straight_to_the_topic_grants_nothing(stack: Stack) -> None:
    identity = _login(stack, *new_org(stack))
    org_id = identity.get("/v1/me").json()["org_id"]
    genuine = new_key(identity, "genuine")
    exchange(stack, genuine)

    secret = api_keys.generate()
    forged = KeyCreated(
        org_id=uuid.UUID(org_id),
        payload=KeyCreatedPayload(
            key_id=uuid.uuid4(),
            name="forged",
            digest=api_keys.digest(secret),
            scopes=ALL_SCOPES,
            created_at=utc_now(),
        ),
    )
    value = forged.to_bytes()
    topic = stack.topic_prefix + KEYS.name
    # Unsigned, and signed by a key that is not identity's. Both keyed like the genuine key, so
    # they share its partition and come before its revocation, the positive signal below.
    records = [
        (genuine["id"].encode(), value, [("event_type", b"KeyCreated")]),
        (
            genuine["id"].encode(),
            value,
            [(HEADER, EventSigner(generate_private_key()).header(KEYS, value).encode())],
        ),
    ]
    asyncio.run(_produce(stack.broker.bootstrap, topic, records))

    assert identity.delete(f"/v1/api-keys/{genuine['id']}").status_code == 204
    refused = _until(
        lambda: (r if (r := _token_at(stack, (genuine["id"], genuine["key"]))).status_code == 401
                 else None),
        "auth applies the genuine revocation written after the forged records",
    )  # fmt: skip
    assert refused.json()["error"] == "invalid_client"

    forged_id = str(forged.payload.key_id)
    answer = _token_at(stack, (forged_id, secret))
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_client"
    # identity never created it: its admin does not see it, and auth kept nothing of it.
    assert forged_id not in identity.get("/v1/api-keys").text
    assert identity.delete(f"/v1/api-keys/{forged_id}").status_code == 404

    # Counted: auth set aside exactly the two forged records, unapplied, for an operator to see.
    dead = asyncio.run(read_to_end(stack.broker.bootstrap, dlq_name(topic)))
    by_auth = [
        record
        for record in dead
        if dict(record.headers).get("x-dlq-consumer") == b"auth.key-projection"
        and record.value == value
    ]
    assert len(by_auth) == 2
    assert {dict(r.headers)["x-dlq-error-type"] for r in by_auth} == {b"UnsignedEvent"}


def _incidents(stack: Stack, token: str) -> httpx.Response:
    return httpx.get(
        f"{stack.url('incidents')}/v1/incidents",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def _integrations(stack: Stack, token: str) -> httpx.Response:
    return httpx.get(
        f"{stack.url('pagerduty-ingest')}/v1/integrations/pagerduty",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def _refused(answer: httpx.Response) -> httpx.Response | None:
    return answer if answer.status_code in (401, 503) else None


def _cannot_vouch(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "revocations_unavailable"
    assert int(answer.headers["retry-after"]) > 0


def test_with_the_broker_down_a_revoked_key_is_refused_everywhere_and_all_recovers(
    stack: Stack,
) -> None:
    identity = _login(stack, *new_org(stack))
    victim, bystander = new_key(identity, "victim"), new_key(identity, "bystander")
    victim_token, bystander_token = exchange(stack, victim), exchange(stack, bystander)
    for token in (victim_token, bystander_token):
        assert _incidents(stack, token).status_code == 200
        assert _integrations(stack, token).status_code == 200

    stack.broker.cut()
    try:
        # Acknowledged by identity, whose database is up; the event waits in its outbox.
        assert identity.delete(f"/v1/api-keys/{victim['id']}").status_code == 204
        revoked_at = time.monotonic()
        victim_credentials = (victim["id"], victim["key"])
        delays = {}
        for name, check in (
            ("auth", lambda: _refused(_token_at(stack, victim_credentials))),
            ("incidents", lambda: _refused(_incidents(stack, victim_token))),
            ("ingest", lambda: _refused(_integrations(stack, victim_token))),
        ):
            _until(check, f"{name} refuses the revoked key with the broker down")
            delays[name] = time.monotonic() - revoked_at
        print("refused after (s):", {k: round(v, 1) for k, v in delays.items()})

        # The services cannot tell which keys were revoked meanwhile: no token is vouched for.
        _cannot_vouch(_incidents(stack, bystander_token))
        _cannot_vouch(_integrations(stack, bystander_token))
        stale_exchange = _token_at(stack, (bystander["id"], bystander["key"]))
        assert stale_exchange.status_code == 503, stale_exchange.text
        assert stale_exchange.json()["error"] == "temporarily_unavailable"
        assert int(stale_exchange.headers["retry-after"]) > 0
    finally:
        stack.broker.restore()
    stack.wait_ready()

    # The revocation arrived with the broker: refused for good, and the rest works again.
    for answer in (_incidents(stack, victim_token), _integrations(stack, victim_token)):
        assert answer.status_code == 401, answer.text
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    assert _token_at(stack, victim_credentials).json()["error"] == "invalid_client"
    assert _incidents(stack, bystander_token).status_code == 200
    assert _integrations(stack, bystander_token).status_code == 200
    assert exchange(stack, bystander)
