-- Fireline → PagerDuty sync (issue 25): every call pagerduty-ingest makes to PagerDuty's API for a
-- change made in Fireline is a timeline entry of its own source, keyed by the sync event's id so
-- a redelivered event adds no second entry.
ALTER TABLE timeline_entries DROP CONSTRAINT timeline_entries_source_check;
ALTER TABLE timeline_entries
    ADD CONSTRAINT timeline_entries_source_check
    CHECK (source IN ('pagerduty', 'api', 'pagerduty_sync'));
