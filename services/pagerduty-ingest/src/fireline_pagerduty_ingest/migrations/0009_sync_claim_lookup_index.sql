-- The dispatcher's claim asks, for each due candidate, whether an older request of its incident
-- is still pending. With statistics taken before a backlog, the planner read every pending request
-- for each candidate instead of probing the incident's own entries: 17,845 buffers against 1,931
-- for a claim of 64 at 10,000 pending (tests/integration/ingest/test_ingest_sync_claim.py).
-- Both indexes were partial on state = 'pending', and such statistics say a partial index on
-- 'pending' is all but empty, so reading either one whole looked as cheap as a probe.
-- * The due index takes a predicate the lookup does not imply, which keeps it out of the
--   lookup's reach; the claim's own `next_attempt_at <= $3` implies it, and every pending
--   request has a due time, so it holds what it held.
-- * The incident index is not partial: reading it whole is costed at its real size, so the
--   probe wins. With the state in its key, the probe still reads only the incident's pending
--   requests, not the finished ones kept beside them.
DROP INDEX sync_requests_of_incident;
CREATE INDEX sync_requests_of_incident ON sync_requests (incident_id, state, created_at);
DROP INDEX sync_requests_due;
CREATE INDEX sync_requests_due ON sync_requests (next_attempt_at, created_at)
    WHERE state = 'pending' AND next_attempt_at IS NOT NULL;
