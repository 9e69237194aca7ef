-- An outbox row is written twice: inserted with its event, then marked published. With its page
-- full, the marked version went to another page and the write-ahead log carried the whole row
-- again, event included: a quarter of all the WAL an alert storm wrote. With room left on each
-- page the new version stays beside the old one, and PostgreSQL logs only the bytes that changed
-- (BENCHMARKS.md, "Third wave, session 5": 22.7 -> 15.0 KB of WAL per delivery, together with
-- ingest's 0007). The price is pages half empty until rows are marked; marked rows are pruned
-- after FIRELINE_OUTBOX_RETENTION_S. Applies to pages filled from now on. With wal_level = logical
-- (change data capture on this table) PostgreSQL logs the whole new row anyway.
ALTER TABLE outbox SET (fillfactor = 50);
