"""Properties of the whole pipeline: whatever a signed PagerDuty delivery carries, a 2xx means an
incident and nothing is a 5xx.

Titles and other strings are drawn from all of Unicode plus the characters that broke it before
(U+0000, lone surrogates), right-to-left marks and 64 KB fields. Ids are drawn up to 64 KB long,
``data`` nests arrays up to 600 deep and ``occurred_at`` reaches the calendar's ends: each
delivery within ``fireline_contracts.bounds`` must become its incident, each beyond them must be a
400 before anything is stored."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fuzz.conftest import Access
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from fireline_contracts.bounds import (
    MAX_EXTERNAL_ID_LENGTH,
    MAX_JSON_DEPTH,
    json_depth_within,
    within_instant_bounds,
)
from fireline_contracts.text import normalise_text
from fireline_incidents.domain.model import alert_title
from fireline_pagerduty_ingest.domain.delivery import MAX_BODY_BYTES
from support import pagerduty_fixtures as pd
from support.stack import Stack

pytestmark = pytest.mark.fuzz

SECRET = "fuzz-signing-secret-0123456789abcdef"

_HOSTILE = st.sampled_from(
    ["\x00", "\ud800", "\udbff", "\udc00", "\udfff", "\u202e", "\u200f", "\u061c", "\ufeff"]
)
_FIELD_BYTES = 64 * 1024


def _long(char: str, fraction: float) -> str:
    """``char`` repeated to fill up to 64 KB of JSON (escapes counted)."""
    return char * max(1, int(fraction * _FIELD_BYTES / len(json.dumps(char))))


_TEXT = st.one_of(
    # All of Unicode, surrogates included (hypothesis leaves them out unless asked).
    st.text(st.one_of(st.characters(codec=None, categories=None), _HOSTILE), max_size=60),
    st.builds(_long, _HOSTILE | st.characters(), st.floats(0.01, 1.0)),
)
_TITLE = _TEXT.filter(lambda t: t.strip())


@pytest.fixture(scope="module")
def webhook_url(stack: Stack, access: Access) -> str:
    created = httpx.post(
        f"{stack.url('pagerduty-ingest')}/v1/integrations/pagerduty",
        json={"name": "fuzz", "signing_secrets": [SECRET]},
        headers=access.bearer(),
        timeout=10,
    )
    assert created.status_code == 201, created.text
    url: str = created.json()["webhook_url"]
    return url


@pytest.fixture(scope="module")
def incidents(stack: Stack, access: Access) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=stack.url("incidents"), headers=access.bearer(), timeout=10
    ) as client:
        yield client


def _delivery(incident_id: str, title: str, other: str) -> bytes:
    document = json.loads(pd.delivery("incident_triggered", incident_id=incident_id))
    data: dict[str, Any] = document["event"]["data"]
    data["title"] = title
    # Three fields of up to 64 KB each keep the body under PagerDuty's 256 KB maximum.
    data["service"]["summary"] = other
    document["event"]["agent"]["summary"] = other
    # ensure_ascii: NUL and lone surrogates travel as \u escapes, the only way JSON can carry them.
    return json.dumps(document).encode()


def _wait_incident(client: httpx.Client, external_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = client.get("/v1/incidents", params={"external_id": external_id})
        assert found.status_code == 200, found.text
        if items := found.json()["items"]:
            item: dict[str, Any] = items[0]
            return item
        time.sleep(0.05)
    raise AssertionError(f"a delivery for {external_id} was accepted but no incident started")


def _pipeline_settings(*, max_examples: int) -> settings:
    """Each example is a round trip through the whole stack: no shrinking, no deadline."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@given(title=_TITLE, other=_TEXT)
@_pipeline_settings(max_examples=30)
def test_an_accepted_delivery_always_becomes_its_incident(
    webhook_url: str, incidents: httpx.Client, title: str, other: str
) -> None:
    incident_id = pd.new_incident_id()
    body = _delivery(incident_id, title, other)

    answer = httpx.post(webhook_url, content=body, headers=pd.signed(body, SECRET), timeout=10)

    assert answer.status_code == 202, answer.text
    incident = _wait_incident(incidents, incident_id)
    expected = alert_title(normalise_text(title), source="pagerduty", external_id=incident_id)
    assert incident["title"] == expected


# Lengths around every limit that ever mattered: ours (255), a btree entry (about 2,700 bytes), and
# 64 KB; the shortest keeps a unique prefix so two examples never dedupe as one delivery.
_ID_LENGTH = st.one_of(
    st.sampled_from([16, MAX_EXTERNAL_ID_LENGTH, MAX_EXTERNAL_ID_LENGTH + 1, 2_680, 2_700, 65_536]),
    st.integers(16, 65_536),
)
_DEPTH = st.one_of(st.sampled_from([0, 60, 61, 62, 500, 600]), st.integers(0, 600))
_OFFSETS = st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_OCCURRED_AT = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:00:00+01:00",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59-01:00",
            "9999-12-31T23:59:59.999999Z",
            "2025-03-14T09:26:53.482Z",
        ]
    ),
    st.builds(
        lambda moment, zone: moment.replace(tzinfo=zone).isoformat(),
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
        _OFFSETS,
    ),
)
_NESTED = "nested arrays go here"


def _unique_id(prefix: str, length: int) -> str:
    return (prefix + uuid.uuid4().hex.upper()).ljust(length, prefix)[:length]


def _bounded_delivery(event_id: str, incident_id: str, depth: int, occurred_at: str) -> bytes:
    document = json.loads(pd.delivery("incident_triggered", incident_id=incident_id))
    document["event"]["id"] = event_id
    document["event"]["occurred_at"] = occurred_at
    document["event"]["data"]["extra"] = _NESTED
    # Written as text: json.dumps cannot write hundreds of levels, and PagerDuty's sender need
    # not be Python.
    nested = "[" * depth + "]" * depth if depth else "null"
    return json.dumps(document).replace(f'"{_NESTED}"', nested).encode()


def _broken_bounds(event_id: str, incident_id: str, depth: int, occurred_at: str) -> list[str]:
    """What a 400 must name for this delivery: each bound it breaks; empty when within them."""
    fixture = json.loads(pd.delivery("incident_triggered"))
    envelope_depth = next(n for n in range(1, MAX_JSON_DEPTH) if json_depth_within(fixture, n))
    broken = []
    if max(len(event_id), len(incident_id)) > MAX_EXTERNAL_ID_LENGTH:
        broken.append(f"longer than {MAX_EXTERNAL_ID_LENGTH} characters")
    # The envelope, "event" and "data" hold "extra" three levels down.
    if max(envelope_depth, 3 + depth) > MAX_JSON_DEPTH:
        broken.append("nests")
    if within_instant_bounds(datetime.fromisoformat(occurred_at)) is None:
        broken.append("occurred_at must lie between")
    return broken


@given(
    event_id_length=_ID_LENGTH,
    incident_id_length=_ID_LENGTH,
    depth=_DEPTH,
    occurred_at=_OCCURRED_AT,
    with_webhook_id=st.booleans(),
)
# The acceptance cases, always run: a 2,700-character event id and incident id, years 1 and 9999,
# a 600-deep array, and everything at its limit.
@example(
    event_id_length=2_700,
    incident_id_length=16,
    depth=0,
    occurred_at="2025-03-14T09:26:53.482Z",
    with_webhook_id=True,
)
@example(
    event_id_length=2_700,
    incident_id_length=16,
    depth=0,
    occurred_at="2025-03-14T09:26:53.482Z",
    with_webhook_id=False,
)
@example(
    event_id_length=16,
    incident_id_length=2_700,
    depth=0,
    occurred_at="2025-03-14T09:26:53.482Z",
    with_webhook_id=True,
)
@example(
    event_id_length=16,
    incident_id_length=16,
    depth=0,
    occurred_at="0001-01-01T00:00:00+01:00",
    with_webhook_id=True,
)
@example(
    event_id_length=16,
    incident_id_length=16,
    depth=0,
    occurred_at="9999-12-31T23:59:59-01:00",
    with_webhook_id=True,
)
@example(
    event_id_length=16,
    incident_id_length=16,
    depth=600,
    occurred_at="2025-03-14T09:26:53.482Z",
    with_webhook_id=True,
)
@example(
    event_id_length=255,
    incident_id_length=255,
    depth=MAX_JSON_DEPTH - 3,
    occurred_at="9999-12-29T22:00:00-01:00",
    with_webhook_id=False,
)
@_pipeline_settings(max_examples=40)
def test_a_delivery_within_the_bounds_becomes_its_incident_and_one_beyond_is_a_400(
    webhook_url: str,
    incidents: httpx.Client,
    event_id_length: int,
    incident_id_length: int,
    depth: int,
    occurred_at: str,
    with_webhook_id: bool,
) -> None:
    event_id = _unique_id("E", event_id_length)
    incident_id = _unique_id("Q", incident_id_length)
    body = _bounded_delivery(event_id, incident_id, depth, occurred_at)
    headers = pd.signed(body, SECRET)
    if not with_webhook_id:
        headers.pop("X-Webhook-Id")

    answer = httpx.post(webhook_url, content=body, headers=headers, timeout=30)

    assert answer.status_code < 500, answer.text
    if len(body) > MAX_BODY_BYTES:
        # The incident id recurs in the delivery's URLs; 64 KB of it overflows the body limit.
        assert answer.status_code == 413, answer.text
    elif not (broken := _broken_bounds(event_id, incident_id, depth, occurred_at)):
        assert answer.status_code == 202, answer.text
        assert _wait_incident(incidents, incident_id)["source"]["external_id"] == incident_id
    else:
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "malformed_delivery"
        # Refused for a bound it breaks, not for anything else about the delivery.
        assert any(reason in answer.json()["detail"] for reason in broken), answer.text
