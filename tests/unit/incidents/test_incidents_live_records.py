"""What a replica's live reader makes of each record of ``fireline.incidents.v1``.

The reader skips full validation for records of the current schema version (they are the
incidents service's own, validated when written); these tests pin that browsers still get exactly
the event, that anything else is refused rather than forwarded, and that a record of an older
shape is sent in the current one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

from fireline_contracts import INCIDENTS, EventEnvelope, parse_event
from fireline_incidents.adapters.incidents_tail import live_fields

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "contracts" / "tests"))
from test_contracts_events import sample_events


def _incident_events() -> list[EventEnvelope]:
    return [e for e in sample_events() if e.event_type in INCIDENTS.event_types]


@pytest.mark.parametrize("event", _incident_events(), ids=lambda e: e.event_type)
def test_a_current_record_reaches_browsers_as_written(event: EventEnvelope) -> None:
    raw = event.to_bytes()

    org_id, event_type, data = live_fields(raw)

    assert (org_id, event_type) == (event.org_id, event.event_type)
    assert data == raw.decode()
    assert orjson.loads(data) == orjson.loads(parse_event(raw, spec=INCIDENTS).model_dump_json())


def test_every_event_type_of_the_topic_is_covered_here() -> None:
    assert {e.event_type for e in _incident_events()} == set(INCIDENTS.event_types)


def test_a_record_without_a_version_is_sent_in_the_current_shape() -> None:
    event = _incident_events()[0]
    document = orjson.loads(event.to_bytes())
    del document["schema_version"]

    _, _, data = live_fields(orjson.dumps(document))

    assert orjson.loads(data)["schema_version"] == event.declared_schema_version()


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        b'{"event_type": "IncidentStarted"}',
        b'{"event_type": "IncidentStarted", "org_id": "not-a-uuid"}',
    ],
    ids=["not-json", "not-an-object", "no-org", "bad-org"],
)
def test_what_is_not_an_event_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError, match="not an event envelope"):
        live_fields(raw)


def test_an_event_of_another_topic_is_refused() -> None:
    key_event = next(e for e in sample_events() if e.event_type == "KeyCreated")
    with pytest.raises(ValueError, match="KeyCreated"):
        live_fields(key_event.to_bytes())


def test_a_record_of_a_future_version_is_refused_not_forwarded() -> None:
    event = _incident_events()[0]
    document = orjson.loads(event.to_bytes())
    document["schema_version"] = event.declared_schema_version() + 1

    with pytest.raises(ValueError, match="newer than"):
        live_fields(orjson.dumps(document))
