"""Scenario 16, the floor: what one delivery must cost at least, with this architecture.

Issue 20 asks the stack's CPU per delivery down to 1.2 ms "or the measurement that says so and
what the floor is". Each part of the stack's cost is set beside the cheapest way its work could be
done on this machine, measured in the same run:

1. PostgreSQL (:mod:`bench.floor_pg`): the durable rows one delivery needs, written set-based,
   a batch of deliveries per statement (``--floor-batch``, 100 by default: the floor holds only
   at the batch sizes the stack reaches);
2. Kafka (:mod:`bench.floor_kafka`): the same records produced and consumed by aiokafka
   configured as the runtime configures it; the broker's CPU and the clients';
3. HTTP: the bare server's CPU per request, from scenario 0 when it ran (else measured here the
   same way).

The stack's figures come from scenario 8 (the burst) when it ran before this one; the table then
shows the gap per part. Needs the stack the bench starts: its PostgreSQL server, broker and process
ids, and the rows of the provisioning probe, whose sizes the floor copies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench import cpu, floor_kafka, floor_pg, throughput
from bench.context import Context
from bench.report import Outcome

QUIET_SHARE = 0.4
"""The stack counts as quiet when its processes together use under 40% of one core: idle, its
five services' consumers and relays, the broker and PostgreSQL use 0.20-0.24 of one here (the
broker 0.04-0.16 of it), which the results record as ``stack_idle_core_share``; a backlog being
worked off takes a whole core or more."""
QUIET_TIMEOUT_S = 120.0

PYTHON_ROLES = ("ingest", "incidents", "notifications", "identity", "auth")


@dataclass(frozen=True)
class Part:
    name: str
    floor: float | None
    stack: float | None

    @property
    def gap(self) -> float | None:
        """How many times the floor the stack spends; None unless both were measured."""
        if self.floor is None or self.stack is None or self.floor <= 0:
            return None
        return round(self.stack / self.floor, 1)

    def as_json(self) -> dict[str, Any]:
        return {"floor_ms": self.floor, "stack_ms": self.stack, "stack_x_floor": self.gap}


def _total(*values: float | None) -> float | None:
    if any(v is None for v in values):
        return None
    return round(sum(v for v in values if v is not None), 3)


def parts(
    floor: Mapping[str, float | None], stack: Mapping[str, float | None] | None
) -> list[Part]:
    """The floor per part beside the stack's figure for the same part, and both sums.

    ``floor`` has ``http``, ``postgresql_client``, ``kafka_clients``, ``postgresql`` and
    ``kafka_broker``; ``stack`` is scenario 8's CPU budget by process (None when it did not run).
    The Python services are compared as a whole with the HTTP answer plus the database and Kafka
    clients: the floor of Python's share.
    """
    got = stack or {}
    python_stack = (
        _total(*(got.get(r) for r in PYTHON_ROLES if r in got)) if stack is not None else None
    )
    kafka_stack = (
        _total(*(v for k, v in got.items() if k.startswith("kafka"))) if stack is not None else None
    )
    python_floor = _total(
        floor.get("http"), floor.get("postgresql_client"), floor.get("kafka_clients")
    )
    rows = [
        Part("Python: HTTP answer", floor.get("http"), None),
        Part("Python: PostgreSQL client", floor.get("postgresql_client"), None),
        Part("Python: Kafka clients", floor.get("kafka_clients"), None),
        Part("Python services (all five)", python_floor, python_stack),
        Part("PostgreSQL", floor.get("postgresql"), got.get("postgresql")),
        Part("Kafka broker", floor.get("kafka_broker"), kafka_stack),
    ]
    total_floor = _total(python_floor, floor.get("postgresql"), floor.get("kafka_broker"))
    total_stack = (
        _total(python_stack, got.get("postgresql"), kafka_stack) if stack is not None else None
    )
    rows.append(Part("total", total_floor, total_stack))
    return rows


async def wait_quiet(
    processes: Mapping[str, cpu.Watched], timeout: float
) -> tuple[float, dict[str, float]]:
    """Until the stack's processes together use under QUIET_SHARE of a core over a second (or
    ``timeout`` passed): the seconds waited, and each process's share of a core in that last
    second, which is what the stack costs idle. A backlog left by an earlier scenario would
    otherwise be counted as the floor's."""
    started = time.monotonic()
    while True:
        before, at = cpu.read(processes), time.monotonic()
        await asyncio.sleep(1.0)
        after, elapsed = cpu.read(processes), time.monotonic() - at
        shares = idle_shares(before, after, elapsed)
        waited = time.monotonic() - started
        if sum(shares.values()) < QUIET_SHARE or waited > timeout:
            return round(waited, 1), shares


def idle_shares(before: cpu.Reading, after: cpu.Reading, seconds: float) -> dict[str, float]:
    """Each process's CPU over ``seconds`` as a share of one core (processes gone are left out)."""
    shares: dict[str, float] = {}
    for name, start in before.items():
        end = after.get(name)
        if start is not None and end is not None and seconds > 0:
            shares[name] = round((end - start) / cpu.TICKS_PER_S / seconds, 3)
    return shares


async def floor(ctx: Context) -> Outcome:
    outcome = Outcome.of(16)
    target, n, batch = ctx.target, ctx.options.deliveries, ctx.options.floor_batch
    if not target.processes or target.postgres_admin_url is None or ctx.incident_id is None:
        raise RuntimeError("scenario 16 needs the stack the bench starts (no stack URLs given)")
    waited, idle = await wait_quiet(target.processes, QUIET_TIMEOUT_S)
    templates = await floor_pg.read_templates(
        target.database_urls["pagerduty-ingest"], target.database_urls["incidents"], ctx.incident_id
    )
    postgres = await floor_pg.measure(
        target.postgres_admin_url, templates, n, target.processes.get("postgresql"), batch
    )
    broker = floor_kafka.Broker(target.kafka_bootstrap, target.kafka_security, target.topic_prefix)
    kafka_processes = {k: w for k, w in target.processes.items() if k.startswith("kafka")}
    kafka = await floor_kafka.measure(broker, templates, n, kafka_processes, batch)
    # What the broker would have spent anyway over the two phases, serving the idle stack: its
    # share measured just before, over the phases' wall time. Part of the broker's floor above
    # is this background, not the records.
    broker_idle = sum(share for name, share in idle.items() if name.startswith("kafka"))
    background_s = broker_idle * (kafka["produce_wall_s"] + kafka["consume_wall_s"])
    kafka["broker_idle_background_ms_per_delivery"] = round(background_s * 1000 / n, 3)
    http = ctx.ceiling_cpu_ms
    if http is None:
        http = (await throughput.measure_ceiling(ctx))[1]
    today = postgres["today"]
    # The whole server, as scenario 8 counts PostgreSQL; the backends alone if it was not watched.
    pg_floor = today["server_cpu_ms_per_delivery"]
    if pg_floor is None:
        pg_floor = today["backends_cpu_ms_per_delivery"]
    floor_parts = {
        "http": http,
        "postgresql_client": today["client_cpu_ms_per_delivery"],
        "kafka_clients": _total(
            kafka["client_produce_cpu_ms_per_delivery"], kafka["client_consume_cpu_ms_per_delivery"]
        ),
        "postgresql": pg_floor,
        "kafka_broker": _total(
            kafka["broker_produce_cpu_ms_per_delivery"], kafka["broker_consume_cpu_ms_per_delivery"]
        ),
    }
    compared = parts(floor_parts, ctx.burst_cpu_ms)
    outcome.figures = {
        "deliveries": n,
        "waited_for_quiet_s": waited,
        # False when the stack never became quiet within QUIET_TIMEOUT_S: measured anyway.
        "quiet": sum(idle.values()) < QUIET_SHARE,
        "stack_idle_core_share": idle,
        "postgresql": postgres,
        "kafka": kafka,
        "http_server_cpu_ms_per_request": http,
        "parts": {p.name: p.as_json() for p in compared},
        "stack_from_scenario_8": ctx.burst_cpu_ms is not None,
    }
    _show(outcome, postgres, kafka, compared)
    return outcome


def _ms(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"


def _show(
    outcome: Outcome, postgres: dict[str, Any], kafka: dict[str, Any], compared: list[Part]
) -> None:
    outcome.show(
        "deliveries per batch (statement, transaction, relay pass)", str(postgres["batch"])
    )
    for variant in floor_pg.VARIANTS:
        v = postgres[variant]
        outcome.show(
            f"PostgreSQL {variant}: backends / whole server ms/delivery",
            f"{_ms(v['backends_cpu_ms_per_delivery'])} / {_ms(v['server_cpu_ms_per_delivery'])}",
        )
        outcome.show(
            f"PostgreSQL {variant}: client (Python) ms/delivery",
            _ms(v["client_cpu_ms_per_delivery"]),
        )
    outcome.show(
        "Kafka clients: produce / consume ms/delivery",
        f"{_ms(kafka['client_produce_cpu_ms_per_delivery'])}"
        f" / {_ms(kafka['client_consume_cpu_ms_per_delivery'])}",
    )
    outcome.show(
        "Kafka broker: produce / consume ms/delivery",
        f"{_ms(kafka['broker_produce_cpu_ms_per_delivery'])}"
        f" / {_ms(kafka['broker_consume_cpu_ms_per_delivery'])}",
    )
    outcome.show(
        "Kafka broker: of it, idle stack's background (est.)",
        _ms(kafka["broker_idle_background_ms_per_delivery"]),
    )
    consumed_ok = kafka["consumed"] == kafka["consumed_expected"]
    outcome.check(
        "Kafka records consumed",
        f"{kafka['consumed']}/{kafka['consumed_expected']}",
        "== produced",
        consumed_ok,
    )
    for part in compared:
        gap = f" ({part.gap:.1f}x)" if part.gap is not None else ""
        outcome.show(
            f"{part.name}: floor / stack ms", f"{_ms(part.floor)} / {_ms(part.stack)}{gap}"
        )
