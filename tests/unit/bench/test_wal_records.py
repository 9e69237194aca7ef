"""The bench's reading of pg_waldump: records counted by relation and kind, per delivery."""

from __future__ import annotations

from bench.wal_records import by_relation, tally

# Lines as PostgreSQL 15's pg_waldump prints them (a heap insert with its index entry, a row lock,
# a commit that names no relation, and a line that is not a record).
DUMP = """\
rmgr: Heap        len (rec/tot):    900/   900, tx:        861, lsn: 0/02B6C0E0, prev 0/02B6C0A0, desc: INSERT off 3 flags 0x00, blkref #0: rel 1663/16387/16843 blk 0
rmgr: Btree       len (rec/tot):     64/    64, tx:        861, lsn: 0/02B6C468, prev 0/02B6C0E0, desc: INSERT_LEAF off 3, blkref #0: rel 1663/16387/16844 blk 1
rmgr: Heap        len (rec/tot):     54/    54, tx:        862, lsn: 0/02B6CAD0, prev 0/02B6CAA8, desc: LOCK off 4: xid 862: flags 0x00 LOCK_ONLY EXCL_LOCK KEYS_UPDATED , blkref #0: rel 1663/16387/16843 blk 0
rmgr: Heap        len (rec/tot):     54/    54, tx:        862, lsn: 0/02B6CB08, prev 0/02B6CAD0, desc: LOCK off 4: xid 862: flags 0x00 LOCK_ONLY EXCL_LOCK KEYS_UPDATED , blkref #0: rel 1663/16387/16843 blk 0
rmgr: Transaction len (rec/tot):     34/    34, tx:        862, lsn: 0/02B6CB40, prev 0/02B6CB08, desc: COMMIT 2026-12-07 19:06:50.123456 UTC
pg_waldump: error: error in WAL record at 0/2B6CB40: invalid record length
"""  # noqa: E501

NAMES = {(16387, 16843): "ingest.deliveries", (16387, 16844): "ingest.deliveries_pkey"}


def test_records_are_counted_by_relation_and_kind_per_delivery() -> None:
    counted = tally(DUMP.splitlines())

    rows = by_relation(counted, NAMES, deliveries=2)

    assert rows == [
        {
            "relation": "ingest.deliveries",
            "records_per_delivery": 1.5,
            "kb_per_delivery": round((900 + 54 + 54) / 1024 / 2, 2),
            "kinds": {"Heap LOCK": 1.0, "Heap INSERT": 0.5},
        },
        {
            "relation": "ingest.deliveries_pkey",
            "records_per_delivery": 0.5,
            "kb_per_delivery": round(64 / 1024 / 2, 2),
            "kinds": {"Btree INSERT_LEAF": 0.5},
        },
        {
            "relation": "(no relation)",
            "records_per_delivery": 0.5,
            "kb_per_delivery": round(34 / 1024 / 2, 2),
            "kinds": {"Transaction COMMIT": 0.5},
        },
    ]


def test_a_relation_of_no_service_database_is_named_by_its_numbers() -> None:
    line = DUMP.splitlines()[0].replace("16387/16843", "5/1259")

    (row,) = by_relation(tally([line]), NAMES, deliveries=1)

    assert row["relation"] == "(other 5/1259)"


def test_a_record_counts_for_the_relation_of_its_first_block() -> None:
    # An update that moved the row to another page names both blocks, and a full-page image
    # follows "FPW"; the record is the first block's relation's, once.
    moved = (
        "rmgr: Heap        len (rec/tot):    120/  8312, tx:        900, lsn: 0/03000028, "
        "prev 0/03000000, desc: UPDATE off 2 xmax 900 flags 0x00 ; new off 7 xmax 0, "
        "blkref #0: rel 1663/16387/16843 blk 9 FPW, blkref #1: rel 1663/16387/16843 blk 3"
    )
    visible = (
        "rmgr: Heap2       len (rec/tot):     59/    59, tx:          0, lsn: 0/03002100, "
        "prev 0/03000028, desc: VISIBLE cutoff xid 899 flags 0x01, "
        "blkref #0: rel 1663/16387/16843 fork vm blk 0, blkref #1: rel 1663/16387/16843 blk 9"
    )

    rows = by_relation(tally([moved, visible]), NAMES, deliveries=1)

    assert rows == [
        {
            "relation": "ingest.deliveries",
            "records_per_delivery": 2.0,
            "kb_per_delivery": round((8312 + 59) / 1024, 2),
            "kinds": {"Heap UPDATE": 1.0, "Heap2 VISIBLE": 1.0},
        }
    ]
