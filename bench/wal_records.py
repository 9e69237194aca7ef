"""Write-ahead log records per delivery, by relation: which table or index the window's writes went
to, as ``pg_waldump`` reads them back from the server's own log.

``pg_stat_statements`` says how many WAL bytes each statement wrote; this says where they landed: a
table's row versions, each index's new entries (a non-HOT update writes one in every index), row
locks (a ``FOR UPDATE``, a foreign-key check's ``KEY SHARE``), TOAST rows. It is how BENCHMARKS.md
("Third wave, session 9") found, for instance, that every update of an ingest delivery writes a
lock record first, because the row's body is stored out of line.

Only on the bench's private Debian cluster, whose ``pg_waldump`` matches the server and whose data
directory this process can read; elsewhere it reports nothing rather than guessing.
"""

from __future__ import annotations

import asyncio
import re
import urllib.parse
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

TOP = 12

# One record of pg_waldump's default output, e.g.
#   rmgr: Btree len (rec/tot): 64/ 64, tx: 861, lsn: 0/02B6C468, prev 0/02B6C0E0, desc: INSERT_LEAF
#   off 3, blkref #0: rel 1663/16387/16844 blk 1
# The first block reference names the relation (tablespace/database/filenode) the record changed.
_RECORD = re.compile(
    r"^rmgr: (?P<rmgr>\S+)\s+len \(rec/tot\):\s*\d+/\s*(?P<total>\d+),.*?desc: (?P<desc>\S+)"
    r"(?:.*?blkref #0: rel \d+/(?P<db>\d+)/(?P<node>\d+))?"
)


@dataclass(frozen=True)
class Tally:
    """Records and bytes, by (database oid, relation file node, record kind)."""

    records: Counter[tuple[int, int, str]]
    bytes: Counter[tuple[int, int, str]]


def tally(lines: Iterable[str]) -> Tally:
    """Count pg_waldump's records; those naming no relation (commits, ...) under (0, 0)."""
    records: Counter[tuple[int, int, str]] = Counter()
    sizes: Counter[tuple[int, int, str]] = Counter()
    for line in lines:
        found = _RECORD.match(line)
        if found is None:
            continue
        db, node = found["db"], found["node"]
        key = (int(db or 0), int(node or 0), f"{found['rmgr']} {found['desc']}")
        records[key] += 1
        sizes[key] += int(found["total"])
    return Tally(records, sizes)


def by_relation(
    counted: Tally, names: dict[tuple[int, int], str], deliveries: int, top: int = TOP
) -> list[dict[str, Any]]:
    """The relations that took the most records, per delivery, with their record kinds."""
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
        for name, n in relations.most_common(top)
    ]


async def start_lsn(conn: Any) -> str:
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
    """The window's records by relation, per delivery; None if the log cannot be read here."""
    conn = await asyncpg.connect(admin_url)
    try:
        end: str = await conn.fetchval("SELECT pg_current_wal_insert_lsn()::text")
        data_dir = Path(await conn.fetchval("SHOW data_directory"))
    finally:
        await conn.close()
    if not (data_dir / "pg_wal").is_dir():
        return None
    process = await asyncio.create_subprocess_exec(
        str(waldump),
        "--path",
        str(data_dir / "pg_wal"),
        "--start",
        start,
        "--end",
        end,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await process.communicate()
    counted = tally(out.decode(errors="replace").splitlines())
    return by_relation(counted, await _names(admin_url, databases), deliveries)


async def _names(admin_url: str, databases: dict[str, str]) -> dict[tuple[int, int], str]:
    """(database oid, file node) -> ``service.relation``, for every relation of the services'
    databases (a TOAST table keeps its ``pg_toast_<oid>`` name)."""
    names: dict[tuple[int, int], str] = {}
    for service, database in databases.items():
        url = urllib.parse.urlsplit(admin_url)._replace(path=f"/{database}").geturl()
        conn = await asyncpg.connect(url)
        try:
            oid = await conn.fetchval(
                "SELECT oid FROM pg_database WHERE datname = current_database()"
            )
            rows = await conn.fetch(
                "SELECT pg_relation_filenode(oid) AS node, relname FROM pg_class"
                " WHERE pg_relation_filenode(oid) IS NOT NULL"
            )
        finally:
            await conn.close()
        for row in rows:
            names[(int(oid), int(row["node"]))] = f"{service}.{row['relname']}"
    return names
