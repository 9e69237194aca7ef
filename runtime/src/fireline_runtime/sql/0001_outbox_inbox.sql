-- Transactional outbox: rows are written in the same transaction as the state change they
-- announce and stay until the broker has acknowledged them (published_at set by the relay).
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE,
    topic         text NOT NULL,
    kafka_key     text NOT NULL,
    event_type    text NOT NULL,
    payload       bytea NOT NULL,
    headers       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
);

-- The relay only ever looks at unsent rows; a partial index keeps that scan small however long
-- the table grows.
CREATE INDEX outbox_unsent ON outbox (id) WHERE published_at IS NULL;

-- Inbox for idempotent consumers: one row per (consumer, event) processed, inserted in the
-- handler's transaction; a conflict means the event was already applied.
CREATE TABLE inbox (
    consumer      text NOT NULL,
    event_id      uuid NOT NULL,
    topic         text NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
