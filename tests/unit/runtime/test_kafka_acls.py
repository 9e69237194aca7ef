"""The ACLs derived from the topic registry: each principal gets what its service needs, no more."""

from __future__ import annotations

from fireline_contracts import ALL_TOPICS, KEYS, dlq_name
from fireline_runtime.kafka_acls import Acl, Operation, Resource, fireline_acls


def _who(acls: list[Acl], operation: Operation, name: str) -> set[str]:
    return {a.principal for a in acls if a.operation is operation and a.name == name}


def test_only_identity_may_write_the_keys_topic_and_its_readers_read_it() -> None:
    acls = fireline_acls("p.")
    assert _who(acls, Operation.WRITE, "p." + KEYS.name) == {"User:identity"}
    assert _who(acls, Operation.READ, "p." + KEYS.name) == {
        "User:auth",
        "User:identity",
        "User:incidents",
        "User:pagerduty-ingest",
        "User:notifications",
    }


def test_every_topic_is_written_by_its_owner_alone_and_read_by_its_readers_alone() -> None:
    acls = fireline_acls()
    for spec in ALL_TOPICS:
        assert _who(acls, Operation.WRITE, spec.name) == {f"User:{spec.owner}"}
        assert _who(acls, Operation.READ, spec.name) == {f"User:{r}" for r in spec.readers}
        # A reader dead-letters what it cannot handle; nobody reads a DLQ but operators.
        assert _who(acls, Operation.WRITE, dlq_name(spec.name)) == {
            f"User:{r}" for r in spec.readers
        }
        assert not _who(acls, Operation.READ, dlq_name(spec.name))


def test_a_principal_joins_only_its_own_consumer_group_and_touches_only_prefixed_topics() -> None:
    acls = fireline_acls("t1.")
    groups = {(a.principal, a.name) for a in acls if a.resource is Resource.GROUP}
    readers = {reader for spec in ALL_TOPICS for reader in spec.readers}
    assert groups == {(f"User:{s}", f"t1.fireline-{s}") for s in readers}
    topics = {a.name for a in acls if a.resource is Resource.TOPIC}
    assert len(topics) == 2 * len(ALL_TOPICS)  # each topic and its DLQ
    assert all(name.startswith("t1.fireline.") for name in topics)
    assert {a.operation for a in acls} == {
        Operation.READ,
        Operation.WRITE,
        Operation.CREATE,
        Operation.DESCRIBE,
    }
