-- Fireline → PagerDuty (issue 25). Per integration: whether status changes made in Fireline are
-- sent back to PagerDuty, whether notes are too, and the PagerDuty user's email PagerDuty's REST
-- API requires in the `From` header of every write made with an account-level token.
ALTER TABLE integrations
    ADD COLUMN sync_to_pagerduty boolean NOT NULL DEFAULT false,
    ADD COLUMN sync_notes boolean NOT NULL DEFAULT false,
    ADD COLUMN from_email text;

-- Which integration a Fireline incident came from. The incidents topic names the PagerDuty
-- incident but not the integration; the delivery that started the incident does, and it is still
-- stored when IncidentStarted arrives (seconds later; deliveries are kept for days).
CREATE INDEX deliveries_by_incident ON deliveries (org_id, incident_id, id);

CREATE TABLE pagerduty_links (
    incident_id     uuid PRIMARY KEY,
    org_id          uuid NOT NULL,
    integration_id  uuid NOT NULL REFERENCES integrations (id),
    external_id     text NOT NULL
);

-- One row per change to send to PagerDuty, written in the inbox transaction of the incidents
-- event that asked for it, so a crash before the call loses nothing: the dispatcher finds the row.
-- A pending row is due at `next_attempt_at`; a claim moves that forward by the lease, so a process
-- that dies mid-call leaves the row due again later. `echo_event_id` is the PagerDuty event that
-- was recognised as this change's own webhook (at most one per request).
CREATE TABLE sync_requests (
    id                 uuid PRIMARY KEY,
    source_event_id    uuid NOT NULL UNIQUE,
    org_id             uuid NOT NULL,
    incident_id        uuid NOT NULL,
    integration_id     uuid NOT NULL REFERENCES integrations (id),
    external_id        text NOT NULL,
    action             text NOT NULL CHECK (action IN ('acknowledge', 'resolve', 'note')),
    note               text,
    state              text NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts           integer NOT NULL DEFAULT 0,
    schedule_step      integer NOT NULL DEFAULT 0,
    claim_id           uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    next_attempt_at    timestamptz,
    last_attempt_at    timestamptz,
    finished_at        timestamptz,
    pagerduty_user_id  text,
    echo_event_id      text
);

CREATE INDEX sync_requests_due ON sync_requests (next_attempt_at, created_at) WHERE state = 'pending';
CREATE INDEX sync_requests_of_incident ON sync_requests (incident_id, created_at)
    WHERE state = 'pending';
CREATE INDEX sync_requests_awaiting_echo ON sync_requests (integration_id, external_id, action)
    WHERE echo_event_id IS NULL;
