"""Scenario 16's arithmetic: how deliveries are batched, how the relay's rows are built from the
probe's templates, and how the floor is set beside the stack's figures."""

from __future__ import annotations

from typing import Any

import pytest

from bench import cpu, floor, floor_kafka, floor_pg


def test_batches_cover_every_delivery_once_in_order() -> None:
    chunks = list(floor_pg.batches(250, 100))
    assert [len(c) for c in chunks] == [100, 100, 50]
    assert [n for c in chunks for n in c] == list(range(250))
    assert list(floor_pg.batches(0, 100)) == []


def test_a_batch_must_hold_a_delivery() -> None:
    with pytest.raises(ValueError, match="at least one"):
        list(floor_pg.batches(10, 0))


def test_insert_sql_takes_each_column_as_a_typed_array() -> None:
    sql = floor_pg.insert_sql(
        "inbox", ["consumer", "event_id"], {"consumer": "text", "event_id": "uuid"}
    )
    assert sql == (
        "INSERT INTO inbox (consumer, event_id) SELECT * FROM unnest($1::text[], $2::uuid[])"
    )
    returning = floor_pg.insert_sql("deliveries", ["body"], {"body": "bytea"}, "id")
    assert returning.endswith("unnest($1::bytea[]) RETURNING id")


def test_record_rows_repeat_every_template_for_each_key_with_its_headers() -> None:
    templates: list[dict[str, Any]] = [
        {"payload": b"started", "headers": '{"fireline-signature": "s1"}'},
        {"payload": memoryview(b"entry"), "headers": {"fireline-signature": "s2"}},
    ]
    rows = floor_kafka.record_rows(templates, "t", ["a", "b"], first_id=10)
    assert [(r["id"], r["kafka_key"], r["payload"]) for r in rows] == [
        (10, "a", b"started"),
        (11, "a", b"entry"),
        (12, "b", b"started"),
        (13, "b", b"entry"),
    ]
    # Stored as jsonb text when read without the services' codec: the relay needs a dict.
    assert rows[0]["headers"] == {"fireline-signature": "s1"}
    assert {r["topic"] for r in rows} == {"t"}


FLOOR = {
    "http": 0.1,
    "postgresql_client": 0.1,
    "kafka_clients": 0.2,
    "postgresql": 0.25,
    "kafka_broker": 0.2,
}


def test_parts_set_each_floor_beside_the_stack_and_sum_both() -> None:
    stack: dict[str, float | None] = {
        "ingest": 0.7,
        "incidents": 0.5,
        "notifications": 0.2,
        "identity": 0.0,
        "auth": 0.0,
        "postgresql": 0.75,
        "kafka": 0.3,
        "load generator": 0.9,  # not the stack's: never in a sum
    }
    by_name = {p.name: p for p in floor.parts(FLOOR, stack)}
    python = by_name["Python services (all five)"]
    assert (python.floor, python.stack, python.gap) == (0.4, 1.4, 3.5)
    assert (by_name["PostgreSQL"].stack, by_name["PostgreSQL"].gap) == (0.75, 3.0)
    assert (by_name["Kafka broker"].stack, by_name["Kafka broker"].gap) == (0.3, 1.5)
    total = by_name["total"]
    assert (total.floor, total.stack) == (0.85, 2.45)


def test_parts_without_the_burst_show_the_floor_alone() -> None:
    by_name = {p.name: p for p in floor.parts(FLOOR, None)}
    assert by_name["total"].floor == 0.85
    assert all(p.stack is None and p.gap is None for p in by_name.values())


def test_a_part_not_measured_leaves_its_sum_unmeasured() -> None:
    by_name = {p.name: p for p in floor.parts({**FLOOR, "http": None}, None)}
    assert by_name["Python services (all five)"].floor is None
    assert by_name["total"].floor is None
    assert by_name["PostgreSQL"].floor == 0.25


def test_idle_shares_are_fractions_of_one_core() -> None:
    ticks = cpu.TICKS_PER_S
    shares = floor.idle_shares(
        {"kafka": 0, "ingest": 10, "gone": 5},
        {"kafka": ticks // 10, "ingest": 10, "gone": None},
        1.0,
    )
    assert shares == {"kafka": 0.1, "ingest": 0.0}
