"""Where a delivery's time goes between its 202 and its IncidentStarted being consumed.

Six points per delivery, joined by the ids the events carry (the PagerDuty incident id, and the
alert's event id for the incidents service's inbox):

1. ``stored``: ingest's ``deliveries.received_at``;
2. ``answered``: the 202 arriving at the client;
3. ``alert produced``: the ``fireline.alerts.v1`` record's Kafka timestamp (CreateTime, set by the
   producer), read by the bench's own group-less consumer;
4. ``alert consumed``: the incidents service's ``inbox.processed_at`` for that alert;
5. ``IncidentStarted produced``: the ``fireline.incidents.v1`` record's Kafka timestamp;
6. ``IncidentStarted consumed``: when the bench's consumer got it.

Both database columns default to ``now()``, which in PostgreSQL is the start of the writing
transaction, not its commit: ``stored`` is when ingest began the transaction that made the delivery
durable (so it comes before the 202), ``alert consumed`` when incidents began applying the alert.
Produced points come from the records, not from the services' tables, so the hops survive a
change in how a service stores or relays its events. All clocks are this machine's.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from bench.report import Outcome, ms
from bench.stats import summary_ms
from bench.target import Target
from bench.watches import IncidentStarts, TopicWatch
from fireline_contracts import ALERTS, AlertTriggered, TopicSpec, parse_event

POINTS = (
    "stored",
    "answered",
    "alert produced",
    "alert consumed",
    "IncidentStarted produced",
    "IncidentStarted consumed",
)


class AlertsProduced(TopicWatch):
    """Each PagerDuty incident's first AlertTriggered: its record timestamp and event id."""

    def __init__(self, target: Target, spec: TopicSpec) -> None:
        super().__init__(target, spec)
        self.produced_at: dict[str, float] = {}
        self.event_ids: dict[str, str] = {}

    def _record(self, record: Any, now: float, wall: float) -> None:
        try:
            event = parse_event(record.value, spec=ALERTS)
        except ValueError:
            return
        if isinstance(event, AlertTriggered):
            external_id = event.payload.external_id
            if external_id not in self.produced_at:
                self.produced_at[external_id] = record.timestamp / 1000
                self.event_ids[external_id] = str(event.event_id)


async def measure(
    target: Target,
    answered: dict[str, float],
    alerts: AlertsProduced,
    starts: IncidentStarts,
) -> dict[str, Any]:
    """p50/p99/max of each hop and of the time from the 202 to each later point."""
    wanted = list(answered)
    stored = await _epochs(
        target.database_urls.get("pagerduty-ingest"),
        "SELECT incident_id AS id, extract(epoch FROM received_at)::float8 AS at"
        " FROM deliveries WHERE incident_id = ANY($1::text[])",
        wanted,
    )
    consumed_by_event = await _epochs(
        target.database_urls.get("incidents"),
        "SELECT event_id::text AS id, extract(epoch FROM processed_at)::float8 AS at"
        " FROM inbox WHERE event_id = ANY($1::uuid[])",
        [alerts.event_ids[i] for i in wanted if i in alerts.event_ids],
    )
    consumed = {
        i: consumed_by_event[e] for i, e in alerts.event_ids.items() if e in consumed_by_event
    }
    columns = (
        stored,
        answered,
        alerts.produced_at,
        consumed,
        starts.produced_at,
        starts.consumed_at,
    )
    hops: dict[str, list[float]] = {}
    from_202: dict[str, list[float]] = {}
    for pd_id in wanted:
        times = [column.get(pd_id) for column in columns]
        for k in range(len(POINTS) - 1):
            t_a, t_b = times[k], times[k + 1]
            if t_a is not None and t_b is not None:
                hops.setdefault(f"{POINTS[k]} -> {POINTS[k + 1]}", []).append(t_b - t_a)
        start = times[1]
        for point, at in zip(POINTS[2:], times[2:], strict=True):
            if start is not None and at is not None:
                from_202.setdefault(point, []).append(at - start)
    return {
        "points": list(POINTS),
        "deliveries": len(wanted),
        "complete": sum(all(c.get(i) is not None for c in columns) for i in wanted),
        "hops_ms": {hop: _summary(samples) for hop, samples in hops.items()},
        "from_202_ms": {point: _summary(samples) for point, samples in from_202.items()},
    }


def show(outcome: Outcome, figures: dict[str, Any]) -> None:
    """One line per hop, and from the 202 to each later point."""
    for hop, summary in figures["hops_ms"].items():
        outcome.show(f"hop {hop} p50 / p99 ms", ms(summary, "p50", "p99"))
    for point, summary in figures["from_202_ms"].items():
        outcome.show(f"202 -> {point} p50 / p99 ms", ms(summary, "p50", "p99"))


def _summary(seconds: list[float]) -> dict[str, float]:
    # Negative durations are real (a transaction's start precedes the answer); percentiles of
    # them are still meaningful, so they are kept, not clipped.
    return {**summary_ms(seconds, (50, 99)), "samples": len(seconds)}


async def _epochs(url: str | None, query: str, ids: list[str]) -> dict[str, float]:
    """id -> epoch seconds from one service's database; empty when the bench cannot read it."""
    if url is None or not ids:
        return {}
    conn = await asyncpg.connect(url)
    try:
        return {r["id"]: float(r["at"]) for r in await conn.fetch(query, ids)}
    finally:
        await conn.close()
