"""The topic registry's writer and readers are what the services really do, so the ACLs derived
from them (fireline_runtime.kafka_acls) let every service work and no service do more."""

from __future__ import annotations

import json
from functools import cache

from fireline_contracts import ALL_TOPICS, INCIDENTS
from tools import gen_docs

LIVE_READERS = {INCIDENTS.name: {"incidents"}}
"""Readers outside any consumer group: each incidents replica reads its own topic back for the
browsers' live updates (fireline_incidents/adapters/incidents_tail.py)."""


@cache
def _operations() -> dict[str, dict[str, set[str]]]:
    """Service -> {"send": topics, "receive": topics}, from its generated AsyncAPI document."""
    found: dict[str, dict[str, set[str]]] = {}
    for service, text in gen_docs.asyncapi_documents().items():
        document = json.loads(text)
        used: dict[str, set[str]] = {"send": set(), "receive": set()}
        for operation in document["operations"].values():
            channel = operation["channel"]["$ref"].removeprefix("#/channels/")
            address = document["channels"][channel]["address"]
            used[operation["action"]].update(a.strip() for a in address.split(","))
        found[service] = used
    return found


def test_each_topics_writer_is_the_one_service_that_publishes_it() -> None:
    for spec in ALL_TOPICS:
        publishers = {s for s, used in _operations().items() if spec.name in used["send"]}
        assert publishers == {spec.owner}, spec.name


def test_each_topics_readers_are_the_services_that_consume_it() -> None:
    for spec in ALL_TOPICS:
        consumers = {s for s, used in _operations().items() if spec.name in used["receive"]}
        assert consumers | LIVE_READERS.get(spec.name, set()) == set(spec.readers), spec.name
