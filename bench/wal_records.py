"""Write-ahead log records per delivery, by relation: which table or index the window's writes went
to, as ``pg_waldump`` reads them back from the server's own log.

``pg_stat_statements`` says how many WAL bytes each statement wrote; this says where they landed: a
table's row versions, each index's new entries (a non-HOT update writes one in each index that
takes the row), row
locks (a ``FOR UPDATE``, a foreign-key check's ``KEY SHARE``), TOAST rows. It is how BENCHMARKS.md
("Third wave, session 9") found, for instance, that each update of an ingest delivery whose body is
stored out of line (TOAST) writes a lock record first.

Only on the bench's private Debian cluster (:mod:`bench.statements` decides), whose
``pg_waldump`` matches the server and whose data directory this process can read; anywhere else,
or when pg_waldump fails, it reports nothing rather than part of the window.
"""

from __future__ import annotations

import asyncio
import re
import sys
import urllib.parse
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

SHOWN = 12
"""Relations printed in the table, most records first (the results file keeps every one): the
dozen that scenario 8's deliveries write, with room for a background write that competes."""

# One record of pg_waldump's default output, e.g.
#   rmgr: Btree len (rec/tot): 64/ 64, tx: 861, lsn: 0/02B6C468, prev 0/02B6C0E0, desc: INSERT_LEAF
#   off 3, blkref #0: rel 1663/16387/16844 blk 1
# The first block reference names the relation (tablespace/database/filenode) the record changed;
# a record that changes several blocks (an update moving a row, a page split) stays in one relation.
_RECORD = re.compile(
    r"^rmgr: (?P<rmgr>\S+)\s+len \(rec/tot\):\s*\d+/\s*(?P<total>\d+),.*?desc: (?P<desc>\S+)"
    r"(?:.*?blkref #0: rel \d+/(?P<db>\d+)/(?P<node>\d+))?"
)


@dataclass
class Tally:
    """Records and bytes, by (database oid, relation file node, record kind); database 0 holds
    the shared catalogs, and (0, 0) the records that name no relation (commits, ...)."""

    records: Counter[tuple[int, int, str]] = field(default_factory=Counter)
    bytes: Counter[tuple[int, int, str]] = field(default_factory=Counter)

    def add(self, line: str) -> None:
        found = _RECORD.match(line)
        if found is None:
            return  # not a record: pg_waldump's own messages
        db, node = found["db"], found["node"]
        key = (int(db or 0), int(node or 0), f"{found['rmgr']} {found['desc']}")
        self.records[key] += 1
        self.bytes[key] += int(found["total"])


def tally(lines: Iterable[str]) -> Tally:
    counted = Tally()
    for line in lines:
        counted.add(line)
    return counted


def by_relation(
    counted: Tally, names: dict[tuple[int, int], str], deliveries: int
) -> list[dict[str, Any]]:
    """Every relation the records changed, most records first, per delivery, with its main
    record kinds."""
    relations: Counter[str] = Counter()
    kb: Counter[str] = Counter()
    kinds: dict[str, Counter[str]] = {}
    for (db, node, kind), n in counted.records.items():
        name = names.get((db, node), "(no relation)" if node == 0 else f"(other {db}/{node})")
        relations[name] += n
        kb[name] += counted.bytes[(db, node, kind)]
        kinds.setdefault(name, Counter())[kind] += n
    return [
        {
            "relation": name,
            "records_per_delivery": round(n / deliveries, 2),
            "kb_per_delivery": round(kb[name] / 1024 / deliveries, 2),
            "kinds": {kind: round(k / deliveries, 2) for kind, k in kinds[name].most_common(4)},
        }
        for name, n in relations.most_common()
    ]


async def start_lsn(conn: Any) -> str:
    """Where the log is now: the window's first record comes after it."""
    lsn: str = await conn.fetchval("SELECT pg_current_wal_insert_lsn()::text")
    return lsn


async def per_delivery(
    *,
    admin_url: str,
    databases: dict[str, str],
    start: str,
    waldump: Path,
    deliveries: int,
) -> list[dict[str, Any]] | None:
    """The window's records by relation, per delivery; None if pg_waldump could not read all of
    the window (a figure from part of it would look like a whole one)."""
    conn = await asyncpg.connect(admin_url)
    try:
        # Flushed, not inserted: pg_waldump reads files, and stops with an error at the end of
        # what was written.
        end: str = await conn.fetchval("SELECT pg_current_wal_flush_lsn()::text")
        wal_dir = Path(await conn.fetchval("SHOW data_directory")) / "pg_wal"
    finally:
        await conn.close()
    counted = await _read(waldump, wal_dir, start, end)
    if counted is None:
        return None
    return by_relation(counted, await _names(admin_url, databases), deliveries)


async def _read(waldump: Path, wal_dir: Path, start: str, end: str) -> Tally | None:
    """pg_waldump's records from ``start`` to ``end``, counted as they stream (a storm's window is
    over half a million lines); None if it failed anywhere."""
    process = await asyncio.create_subprocess_exec(
        str(waldump),
        "--path",
        str(wal_dir),
        "--start",
        start,
        "--end",
        end,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None  # both piped above; pg_waldump only ends with a line there
    counted = Tally()
    async for line in process.stdout:
        counted.add(line.decode(errors="replace"))
    problem = (await process.stderr.read()).decode(errors="replace").strip()
    if await process.wait() != 0:
        message = f"[bench] WAL by relation not measured: pg_waldump: {problem[:300]}"
        print(message, file=sys.stderr, flush=True)
        return None
    return counted


async def _names(admin_url: str, databases: dict[str, str]) -> dict[tuple[int, int], str]:
    """(database oid, file node) -> ``service.relation`` for every relation of the services'
    databases (a TOAST table keeps its ``pg_toast_<oid>`` name), and ``shared.<catalog>`` under
    database 0 for the catalogs every database shares."""
    names: dict[tuple[int, int], str] = {}
    for service, database in databases.items():
        url = urllib.parse.urlsplit(admin_url)._replace(path=f"/{database}").geturl()
        conn = await asyncpg.connect(url)
        try:
            oid = await conn.fetchval(
                "SELECT oid FROM pg_database WHERE datname = current_database()"
            )
            rows = await conn.fetch(
                "SELECT pg_relation_filenode(oid) AS node, relname, relisshared FROM pg_class"
                " WHERE pg_relation_filenode(oid) IS NOT NULL"
            )
        finally:
            await conn.close()
        for row in rows:
            if row["relisshared"]:
                names[(0, int(row["node"]))] = f"shared.{row['relname']}"
            else:
                names[(int(oid), int(row["node"]))] = f"{service}.{row['relname']}"
    return names
