"""A property of the whole pipeline: whatever text a signed PagerDuty delivery carries, a 2xx
means an incident. Titles and other strings are drawn from all of Unicode plus the characters that
broke it before (U+0000, lone surrogates), right-to-left marks and 64 KB fields."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fuzz.conftest import Access
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fireline_contracts.text import normalise_text
from fireline_incidents.domain.model import alert_title
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


@given(title=_TITLE, other=_TEXT)
@settings(
    max_examples=30,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
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
