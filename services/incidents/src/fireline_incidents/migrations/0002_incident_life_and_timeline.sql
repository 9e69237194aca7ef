-- PagerDuty's whole incident life mirrored (issue 13): the source's state beside the incident,
-- and the timeline.
--
-- source_state_at is the PagerDuty occurred_at the mirrored state (status, source_priority,
-- assignees, escalation policy, merged_into) was last taken from: an event older than it changes
-- none of them, so deliveries that arrive out of order never move an incident back. NULL while
-- only references to the incident (a note, a status update) have arrived.
ALTER TABLE incidents
    ADD COLUMN reopen_count            integer NOT NULL DEFAULT 0,
    ADD COLUMN merged_into             text,
    ADD COLUMN assignees               jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN escalation_policy_id    text,
    ADD COLUMN escalation_policy_name  text,
    ADD COLUMN source_priority         text,
    ADD COLUMN source_state_at         timestamptz;

-- One entry per thing that happened to an incident. seq is the storage order and breaks ties
-- between entries with the same time.
CREATE TABLE timeline_entries (
    seq              bigserial PRIMARY KEY,
    id               uuid NOT NULL UNIQUE,
    org_id           uuid NOT NULL,
    incident_id      uuid NOT NULL REFERENCES incidents (id),
    kind             text NOT NULL,
    occurred_at      timestamptz NOT NULL,
    actor_kind       text NOT NULL,
    actor_id         text,
    actor_name       text,
    source           text NOT NULL CHECK (source IN ('pagerduty', 'api')),
    source_event_id  text,
    summary          text NOT NULL,
    body             text,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);

-- A redelivered or replayed PagerDuty event (even under another delivery id) never adds a
-- second entry: the use case inserts the entry first and stops when it already exists.
CREATE UNIQUE INDEX timeline_entries_source_event
    ON timeline_entries (incident_id, source, source_event_id)
    WHERE source_event_id IS NOT NULL;

-- The timeline endpoint's keyset order: oldest first.
CREATE INDEX timeline_entries_order ON timeline_entries (incident_id, occurred_at, seq);
