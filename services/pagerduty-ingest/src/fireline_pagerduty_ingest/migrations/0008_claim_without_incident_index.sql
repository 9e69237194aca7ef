-- The worker's claim no longer looks up earlier pending deliveries of an incident through this
-- index (it finds the oldest pending delivery of each incident within the oldest pending rows,
-- adapters/deliveries_repository.py), and nothing else reads it. Dropped, it is one index entry
-- less to write for every delivery, keyed by PagerDuty's random incident ids. It also leaves the
-- claim one index to choose from, so no stale statistics can send it down the wrong one.
DROP INDEX IF EXISTS deliveries_pending_by_incident;
