"""Statements and transactions per delivery, per service database, over a measured window.

``pg_stat_statements`` (preloaded in the bench's private Debian cluster, ``track = all``) counts
every statement a backend runs, by database, including the ones PostgreSQL runs on a statement's
behalf (foreign-key checks, statements inside functions). Its ``toplevel`` column tells them
apart: a top-level call is one round trip from a service. The window starts with
``pg_stat_statements_reset()`` and a reading of ``pg_stat_database.xact_commit`` and ends with a
second reading; both include what the services do on their own meanwhile (outbox polls, idle
consumers), which is part of the cost. A backend that stays busy publishes its transaction
counters at most once a second and an idle one within ten (PostgreSQL 15's
``PGSTAT_IDLE_INTERVAL``), so the closing reading waits :data:`SETTLE_S`.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bench import pgcluster, wal_records
from bench.target import Target

TOP = 8
SETTLE_S = 11.0
QUERY_CHARS = 90


@dataclass(frozen=True)
class Window:
    admin_url: str
    databases: dict[str, str]
    """Service -> database name."""
    commits: dict[str, int]
    wal: dict[str, int]
    """``pg_stat_wal`` at the start: the whole server's, every service's writes together."""
    lsn: str
    """Where the server's write-ahead log was at the start, for :mod:`bench.wal_records`."""
    waldump: Path | None
    """The server's own ``pg_waldump``: only on the bench's private Debian cluster, whose files
    this process may read; None elsewhere (another server's log is not the bench's to read)."""


def _database(url: str) -> str:
    return urllib.parse.urlsplit(url).path.lstrip("/")


async def begin(target: Target) -> Window | None:
    """Counters reset and transactions read; None when this server does not count statements."""
    if not target.postgres.get("pg_stat_statements") or target.postgres_admin_url is None:
        return None
    databases = {service: _database(url) for service, url in target.database_urls.items()}
    conn = await asyncpg.connect(target.postgres_admin_url)
    try:
        await conn.execute("SELECT pg_stat_statements_reset()")
        commits = await _commits(conn, databases)
        server_wal = await _wal(conn)
        lsn = await wal_records.start_lsn(conn)
    finally:
        await conn.close()
    return Window(target.postgres_admin_url, databases, commits, server_wal, lsn, _waldump(target))


def _waldump(target: Target) -> Path | None:
    bin_dir = pgcluster.debian_bin()
    if target.postgres.get("kind") != "debian" or bin_dir is None:
        return None
    waldump = bin_dir / "pg_waldump"
    return waldump if waldump.exists() else None


async def _wal(conn: Any) -> dict[str, int]:
    row = await conn.fetchrow("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal")
    return {name: int(row[name]) for name in ("wal_records", "wal_fpi", "wal_bytes")}


def _wal_per_delivery(
    start: dict[str, int], now: dict[str, int], deliveries: int
) -> dict[str, float]:
    """The server's write-ahead log over the window, per delivery: what every commit flushes,
    and what a checkpoint's full-page images multiply."""
    grown = {name: now[name] - start[name] for name in now}
    return {
        "kb": round(grown["wal_bytes"] / 1024 / deliveries, 2),
        "records": round(grown["wal_records"] / deliveries, 2),
        "full_page_images": round(grown["wal_fpi"] / deliveries, 2),
    }


@dataclass(frozen=True)
class Counted:
    """What PostgreSQL counted over a window, per delivery."""

    statements: dict[str, Any]
    """By service: calls, round trips, transactions and WAL, and the statements behind them."""
    wal: dict[str, float]
    """The whole server's write-ahead log (``pg_stat_wal``)."""
    wal_by_relation: list[dict[str, Any]] | None
    """Its records by relation (``pg_waldump``); None where the log cannot be read."""


async def _commits(conn: Any, databases: dict[str, str]) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT datname, xact_commit FROM pg_stat_database WHERE datname = ANY($1::text[])",
        list(databases.values()),
    )
    by_name = {r["datname"]: int(r["xact_commit"]) for r in rows}
    return {service: by_name.get(name, 0) for service, name in databases.items()}


async def per_delivery(window: Window, deliveries: int) -> Counted:
    """By service: calls and transactions per delivery, and the statements called most; and
    the server's write-ahead log. One connection reads all of it."""
    conn = await asyncpg.connect(window.admin_url)
    try:
        commits = await _commits(conn, window.databases)
        server_wal = await _wal(conn)
        rows = await conn.fetch(
            """
            SELECT d.datname, s.query, s.toplevel, sum(s.calls)::bigint AS calls,
                   sum(s.wal_bytes)::bigint AS wal_bytes
              FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
             WHERE d.datname = ANY($1::text[])
             GROUP BY d.datname, s.query, s.toplevel
             ORDER BY calls DESC, s.query
            """,
            list(window.databases.values()),
        )
    finally:
        await conn.close()
    figures: dict[str, Any] = {}
    for service, name in window.databases.items():
        mine = [r for r in rows if r["datname"] == name]
        calls = sum(int(r["calls"]) for r in mine)
        round_trips = sum(int(r["calls"]) for r in mine if r["toplevel"])
        # A top-level statement's WAL already includes what its nested ones wrote (foreign-key
        # checks, function bodies), so only top-level rows are summed.
        wal = sum(int(r["wal_bytes"]) for r in mine if r["toplevel"])
        by_wal = sorted((r for r in mine if r["toplevel"]), key=lambda r: -int(r["wal_bytes"]))
        figures[service] = {
            "calls_per_delivery": round(calls / deliveries, 2),
            "round_trips_per_delivery": round(round_trips / deliveries, 2),
            "transactions_per_delivery": round(
                (commits[service] - window.commits[service]) / deliveries, 2
            ),
            "wal_kb_per_delivery": round(wal / 1024 / deliveries, 2),
            "top_by_wal": [
                {
                    "wal_kb_per_delivery": round(int(r["wal_bytes"]) / 1024 / deliveries, 2),
                    "query": _shorten(r["query"]),
                }
                for r in by_wal[:TOP]
            ],
            "top": [
                {
                    "calls_per_delivery": round(int(r["calls"]) / deliveries, 2),
                    "toplevel": r["toplevel"],
                    "query": _shorten(r["query"]),
                }
                for r in mine[:TOP]
            ],
        }
    return Counted(
        figures,
        _wal_per_delivery(window.wal, server_wal, deliveries),
        await _wal_by_relation(window, deliveries),
    )


async def _wal_by_relation(window: Window, deliveries: int) -> list[dict[str, Any]] | None:
    if window.waldump is None:
        return None
    return await wal_records.per_delivery(
        admin_url=window.admin_url,
        databases=window.databases,
        start=window.lsn,
        waldump=window.waldump,
        deliveries=deliveries,
    )


def _shorten(query: str) -> str:
    flat = " ".join(query.split())
    return flat if len(flat) <= QUERY_CHARS else flat[: QUERY_CHARS - 1] + "…"
