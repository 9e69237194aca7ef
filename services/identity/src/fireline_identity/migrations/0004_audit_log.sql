-- The org's audit log, built from events on Kafka (fireline_identity/service_layer/audit.py).
-- id is the source event's id: a redelivered event inserts nothing (ON CONFLICT DO NOTHING).
-- No foreign keys: entries outlive the users, keys and integrations they name.
CREATE TABLE audit_events (
    id           uuid PRIMARY KEY,
    org_id       uuid NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    action       text NOT NULL,
    actor_type   text NOT NULL,
    actor_id     uuid,
    target_type  text NOT NULL,
    target_id    uuid NOT NULL,
    address      text,
    details      jsonb NOT NULL DEFAULT '{}'
);
-- Newest first within an org, the order every read and the retention delete use.
CREATE INDEX audit_events_org_time ON audit_events (org_id, occurred_at DESC, id DESC);
CREATE INDEX audit_events_time ON audit_events (occurred_at);

-- Entries are never changed: refuse UPDATE outright, so not even a bug or an operator's typo can
-- rewrite history. Retention deletes whole rows, which stays allowed.
CREATE FUNCTION audit_events_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_update();
