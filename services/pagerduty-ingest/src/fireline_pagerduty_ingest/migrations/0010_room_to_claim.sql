-- The worker's claim changes only columns no index names (claim_id, lease_until, attempts), so its
-- new row version can stay on the page as a HOT update, with no index entry written. On a page the
-- inserts had filled it could not: most claims wrote a new entry in each index that takes the row
-- (four of five; a pg_waldump of a storm's burst, BENCHMARKS.md "Third wave, session 9"). With room left
-- on each page more claims stay beside their row: a storm's WAL went from 60.2 to 58.8 records and
-- ingest's from 5.7 to 5.4 KB a delivery. The publication that follows still writes index entries
-- (it changes status, which the partial indexes name). Applies to pages filled from now on. The
-- price: pages hold 30% fewer rows, so the deliveries kept (7 days by default) take about 40% more
-- pages (100/70, not measured).
ALTER TABLE deliveries SET (fillfactor = 70);
