"""Scenario 16, part 1: PostgreSQL's own cost of the durable writes one delivery needs.

The services' real schemas (the runtime's migrations, then ingest's and incidents', applied as the
services apply them at start) in two scratch databases on the stack's own server, filled with
copies of the rows the stack wrote for the provisioning probe's delivery, so every row has its
real size. The rows are written as cheaply as PostgreSQL allows them to be written while each
stage stays durable on its own: one statement per table per batch of deliveries (``--floor-batch``,
100 by default)
(``INSERT ... SELECT FROM unnest(...)``), one transaction per stage per batch, on one connection
per database; fsync and synchronous_commit as the server has them.

Two sets of writes are measured, one after the other:

- ``today``: the rows the stack writes now. Ingest: the delivery, its publication (status), the
  alert's outbox row, that row marked sent. Incidents: the inbox row, the org counter, the
  incident, its two timeline entries, the incident saved again, its outbox rows (those the
  stack wrote for the provisioning probe: one since a start carries its assignment and its first
  timeline entries), marked sent;
- ``minimal``: the alert published straight from the deliveries table (no alert outbox row: the
  delivery's publication is its mark-as-sent), and outbox rows deleted once sent instead of
  updated.

The CPU is that of the two backends serving the writes (``/proc`` ticks of their processes), and
separately the whole server (the postmaster and every child: WAL writer, checkpointer, and the
stack's own idle backends) over the same window; and this process's own, the client's share
(building the arrays, asyncpg's encoding and round trips), which the services pay in Python.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from bench import cpu
from fireline_incidents.migrations import migrations as incidents_migrations
from fireline_pagerduty_ingest.migrations import migrations as ingest_migrations
from fireline_runtime.migrations import apply, runtime_migrations

VARIANTS = ("today", "minimal")


def batches(n: int, size: int) -> Iterator[range]:
    """``range``s of delivery numbers covering ``0..n-1``, ``size`` at a time (the last may be
    shorter)."""
    if size < 1:
        raise ValueError("a batch holds at least one delivery")
    for start in range(0, max(n, 0), size):
        yield range(start, min(start + size, n))


def insert_sql(
    table: str, columns: Sequence[str], types: dict[str, str], returning: str | None = None
) -> str:
    """One multi-row INSERT: every column an array parameter, the rows their ``unnest``."""
    arrays = ", ".join(f"${i}::{types[c]}[]" for i, c in enumerate(columns, start=1))
    names = ", ".join(columns)
    tail = f" RETURNING {returning}" if returning else ""
    return f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}){tail}"  # noqa: S608


@dataclass(frozen=True)
class Templates:
    """The rows the stack wrote for one delivery, read back from the services' databases."""

    integration: dict[str, Any]
    delivery: dict[str, Any]
    alert_outbox: dict[str, Any]
    inbox: dict[str, Any]
    incident: dict[str, Any]
    timeline: list[dict[str, Any]]
    incident_outbox: list[dict[str, Any]]

    def describe(self) -> dict[str, Any]:
        """What the results file records: which rows, and their sizes, not their contents."""
        return {
            "delivery_body_bytes": len(self.delivery["body"]),
            "delivery_parsed_event_chars": len(self.delivery.get("parsed_event") or ""),
            "alert_outbox": _event(self.alert_outbox),
            "timeline_entries": [t["kind"] for t in self.timeline],
            "incident_outbox": [_event(r) for r in self.incident_outbox],
        }


def _event(row: dict[str, Any]) -> dict[str, Any]:
    return {"event_type": row["event_type"], "payload_bytes": len(row["payload"])}


async def read_templates(ingest_url: str, incidents_url: str, incident_id: str) -> Templates:
    """The probe's rows: its delivery and alert, and everything incidents wrote applying it.

    Its outbox rows are read back after they were published, so the stack must keep them
    (``FIRELINE_OUTBOX_RETENTION_S`` above 0, the default)."""
    ingest = await asyncpg.connect(ingest_url)
    try:
        delivery = await _one(ingest, "SELECT * FROM deliveries ORDER BY id LIMIT 1")
        integration = await _one(
            ingest, "SELECT * FROM integrations WHERE id = $1", delivery["integration_id"]
        )
        alert = await _one(
            ingest,
            "SELECT * FROM outbox WHERE event_type = 'AlertTriggered' ORDER BY id LIMIT 1",
        )
    finally:
        await ingest.close()
    incidents = await asyncpg.connect(incidents_url)
    try:
        incident = await _one(incidents, "SELECT * FROM incidents WHERE id = $1", incident_id)
        timeline = await _all(
            incidents,
            "SELECT * FROM timeline_entries WHERE incident_id = $1 ORDER BY seq",
            incident_id,
        )
        inbox = await _one(incidents, "SELECT * FROM inbox WHERE event_id = $1", alert["event_id"])
        # now() is the transaction's start: the rows that share the IncidentStarted row's
        # created_at are exactly the ones the alert's transaction wrote.
        outbox = await _all(
            incidents,
            """
            SELECT * FROM outbox WHERE created_at = (
                SELECT created_at FROM outbox WHERE event_type = 'IncidentStarted'
                 ORDER BY id LIMIT 1)
            ORDER BY id
            """,
        )
    finally:
        await incidents.close()
    return Templates(integration, delivery, alert, inbox, incident, timeline, outbox)


async def _one(conn: Any, query: str, *args: Any) -> dict[str, Any]:
    row = await conn.fetchrow(query, *args)
    if row is None:
        raise RuntimeError(f"the provisioning probe left no row for: {' '.join(query.split())}")
    return dict(row)


async def _all(conn: Any, query: str, *args: Any) -> list[dict[str, Any]]:
    rows = [dict(r) for r in await conn.fetch(query, *args)]
    if not rows:
        raise RuntimeError(f"the provisioning probe left no row for: {' '.join(query.split())}")
    return rows


@dataclass(frozen=True)
class Databases:
    ingest: Any
    incidents: Any
    """One connection each; their backends' pids are what the figure measures."""

    @property
    def backends(self) -> dict[str, cpu.Watched]:
        return {
            "ingest backend": cpu.Watched(self.ingest.get_server_pid()),
            "incidents backend": cpu.Watched(self.incidents.get_server_pid()),
        }


@contextlib.asynccontextmanager
async def scratch_databases(admin_url: str) -> AsyncIterator[Databases]:
    """Two fresh databases with the services' migrations applied; dropped afterwards."""
    suffix = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
    names = {
        "ingest": f"bench_floor_ingest_{suffix}",
        "incidents": f"bench_floor_incidents_{suffix}",
    }
    admin = await asyncpg.connect(admin_url)
    conns: dict[str, Any] = {}
    try:
        for name in names.values():
            await admin.execute(f'CREATE DATABASE "{name}"')
        for service, name in names.items():
            conns[service] = await asyncpg.connect(_with_database(admin_url, name))
        await apply(conns["ingest"], [*runtime_migrations(), *ingest_migrations()])
        await apply(conns["incidents"], [*runtime_migrations(), *incidents_migrations()])
        yield Databases(conns["ingest"], conns["incidents"])
    finally:
        for conn in conns.values():
            with contextlib.suppress(Exception):
                await conn.close()
        for name in names.values():
            try:
                # FORCE: a connection left open by a failed step must not keep the copy alive.
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # the measurement stands; say what was left behind
                print(f"[bench] scratch database {name} not dropped: {exc!r}", file=sys.stderr)
        await admin.close()


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


class Writer:
    """The batch statements of one database, built once from its catalogue."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._types: dict[str, dict[str, str]] = {}

    async def _columns(self, table: str) -> dict[str, str]:
        """Column -> type, without serial columns (their sequence numbers each row)."""
        if table not in self._types:
            rows = await self.conn.fetch(
                """
                SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type,
                       pg_get_expr(d.adbin, d.adrelid) AS default_
                  FROM pg_attribute a
                  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                 WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
                 ORDER BY a.attnum
                """,
                table,
            )
            self._types[table] = {
                r["attname"]: r["type"]
                for r in rows
                if not str(r["default_"] or "").startswith("nextval(")
            }
        return self._types[table]

    async def insert(
        self, table: str, rows: Sequence[dict[str, Any]], returning: str | None = None
    ) -> list[Any]:
        """The rows in one statement; the ``returning`` column of each when asked."""
        types = await self._columns(table)
        columns = [c for c in types if c in rows[0]]
        arrays = [[row[c] for row in rows] for c in columns]
        sql = insert_sql(table, columns, types, returning)
        if returning is None:
            await self.conn.execute(sql, *arrays)
            return []
        return [r[returning] for r in await self.conn.fetch(sql, *arrays)]


@dataclass
class Batch:
    """The ids of one batch's copies."""

    numbers: range
    run: str

    def __post_init__(self) -> None:
        self.incident_ids = [uuid.uuid4() for _ in self.numbers]
        self.alert_event_ids = [uuid.uuid4() for _ in self.numbers]

    def external_id(self, n: int) -> str:
        return f"FLOOR-{self.run}-{n}"


async def setup(ingest: Writer, incidents: Writer, t: Templates) -> None:
    """What must exist before the first delivery: the integration (the delivery's foreign key)
    and the org's counter row."""
    await ingest.insert("integrations", [t.integration])
    await incidents.conn.execute(
        "INSERT INTO org_counters (org_id, last_number) VALUES ($1, 0)", t.incident["org_id"]
    )


async def write_batch(
    variant: str, ingest: Writer, incidents: Writer, t: Templates, batch: Batch
) -> None:
    """One batch of deliveries, stage by stage, each stage its own transaction."""
    minimal = variant == "minimal"
    numbers = list(batch.numbers)
    # The receiver: the delivery is durable before its 202.
    ids = await ingest.insert(
        "deliveries",
        [
            {
                **t.delivery,
                "status": "received",
                "dedupe_key": f"{batch.external_id(n)}-dk",
                "event_id": f"{batch.external_id(n)}-ev",
                "incident_id": batch.external_id(n),
                "processed_at": None,
                "enrichment_status": None,
            }
            for n in numbers
        ],
        returning="id",
    )
    publish = """
        UPDATE deliveries SET status = 'published', enrichment_status = $2, processed_at = now()
         WHERE id = ANY($1::bigint[])
    """
    if minimal:
        # The alert goes to the broker straight from the delivery: once acknowledged, the
        # delivery's publication is its mark-as-sent.
        await ingest.conn.execute(publish, ids, t.delivery["enrichment_status"])
    else:
        alert_rows = [
            {
                **t.alert_outbox,
                "event_id": e,
                "kafka_key": batch.external_id(n),
                "published_at": None,
            }
            for n, e in zip(numbers, batch.alert_event_ids, strict=True)
        ]
        async with ingest.conn.transaction():
            await ingest.insert("outbox", alert_rows)
            await ingest.conn.execute(publish, ids, t.delivery["enrichment_status"])
        await _mark_sent(ingest.conn, batch.alert_event_ids, delete=False)
    await _apply_alerts(incidents, t, batch)
    await _mark_sent(incidents.conn, _incident_event_ids(t, batch), delete=minimal)


def _incident_event_ids(t: Templates, batch: Batch) -> list[uuid.UUID]:
    # Deterministic per (incident, template) so the mark-as-sent names the rows just written.
    return [
        uuid.uuid5(incident_id, str(i))
        for incident_id in batch.incident_ids
        for i in range(len(t.incident_outbox))
    ]


async def _apply_alerts(incidents: Writer, t: Templates, batch: Batch) -> None:
    """The incidents consumer's batch (a fetch's alerts): one transaction."""
    numbers = list(batch.numbers)
    org_id = t.incident["org_id"]
    async with incidents.conn.transaction():
        await incidents.insert("inbox", [{**t.inbox, "event_id": e} for e in batch.alert_event_ids])
        # The consumer's own statement (adapters/postgres_batch.py): a batch's numbers at once.
        last = await incidents.conn.fetchval(
            """
            INSERT INTO org_counters (org_id, last_number) VALUES ($1, $2)
            ON CONFLICT (org_id) DO UPDATE
            SET last_number = org_counters.last_number + excluded.last_number
            RETURNING last_number
            """,
            org_id,
            len(numbers),
        )
        first = last - len(numbers) + 1
        await incidents.insert(
            "incidents",
            [
                {**t.incident, "id": i, "number": first + k, "external_id": batch.external_id(n)}
                for k, (n, i) in enumerate(zip(numbers, batch.incident_ids, strict=True))
            ],
        )
        await incidents.insert(
            "timeline_entries",
            [
                {
                    **entry,
                    "id": uuid.uuid4(),
                    "incident_id": i,
                    "source_event_id": f"{batch.external_id(n)}-{k}",
                }
                for n, i in zip(numbers, batch.incident_ids, strict=True)
                for k, entry in enumerate(t.timeline)
            ],
        )
        # The incident saved again after the PagerDuty sync, as the consumer does today.
        await incidents.conn.execute(
            "UPDATE incidents SET updated_at = now() WHERE id = ANY($1::uuid[])",
            batch.incident_ids,
        )
        event_ids = iter(_incident_event_ids(t, batch))
        await incidents.insert(
            "outbox",
            [
                {**row, "event_id": next(event_ids), "kafka_key": str(i), "published_at": None}
                for i in batch.incident_ids
                for row in t.incident_outbox
            ],
        )


async def _mark_sent(conn: Any, event_ids: list[uuid.UUID], *, delete: bool) -> None:
    """The relay's mark-as-sent after the broker acknowledged the rows."""
    if delete:
        await conn.execute("DELETE FROM outbox WHERE event_id = ANY($1::uuid[])", event_ids)
    else:
        await conn.execute(
            "UPDATE outbox SET published_at = now() WHERE event_id = ANY($1::uuid[])", event_ids
        )


async def measure(
    admin_url: str,
    templates: Templates,
    deliveries: int,
    server: cpu.Watched | None,
    batch: int,
) -> dict[str, Any]:
    """Per variant: CPU ms per delivery of the two backends, and of the whole server."""
    figures: dict[str, Any] = {"batch": batch, "templates": templates.describe()}
    for variant in VARIANTS:
        async with scratch_databases(admin_url) as dbs:
            ingest, incidents = Writer(dbs.ingest), Writer(dbs.incidents)
            await setup(ingest, incidents, templates)
            watched = dict(dbs.backends)
            if server is not None:
                watched["server"] = server
            before, client_before = cpu.read(watched), time.process_time()
            for numbers in batches(deliveries, batch):
                await write_batch(variant, ingest, incidents, templates, Batch(numbers, variant))
            spent = cpu.per_delivery_ms(before, cpu.read(watched), deliveries)
            client_s = time.process_time() - client_before
            counts = await _counts(dbs)
        backends = [spent["ingest backend"], spent["incidents backend"]]
        figures[variant] = {
            "backends_cpu_ms_per_delivery": (
                round(sum(v for v in backends if v is not None), 3)
                if None not in backends
                else None
            ),
            "ingest_backend_cpu_ms_per_delivery": spent["ingest backend"],
            "incidents_backend_cpu_ms_per_delivery": spent["incidents backend"],
            "server_cpu_ms_per_delivery": spent.get("server"),
            # This process: building the rows' arrays and asyncpg's encoding and round trips.
            "client_cpu_ms_per_delivery": round(client_s * 1000 / deliveries, 3),
            "rows": counts,
        }
    return figures


async def _counts(dbs: Databases) -> dict[str, int]:
    """Rows left behind: proof the writes happened (and the outbox's deletions, in minimal)."""
    counts: dict[str, int] = {}
    for name, conn, tables in (
        ("ingest", dbs.ingest, ("deliveries", "outbox")),
        ("incidents", dbs.incidents, ("inbox", "incidents", "timeline_entries", "outbox")),
    ):
        for table in tables:
            counts[f"{name}.{table}"] = int(
                await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
            )
    return counts
