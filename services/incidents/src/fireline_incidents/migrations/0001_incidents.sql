-- Users projection, rebuilt from the identity users topic. Emails are stored trimmed and
-- lower-cased so creator resolution is one indexed equality lookup. `version_at` is the
-- `occurred_at` of the event that produced the row: an older event never overwrites a newer one,
-- whatever order redeliveries and replays arrive in.
CREATE TABLE users (
    user_id     uuid PRIMARY KEY,
    org_id      uuid NOT NULL,
    email       text NOT NULL,
    active      boolean NOT NULL,
    version_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Only active users can ever be matched, so only they need to be found fast.
CREATE INDEX users_active_email ON users (org_id, email) WHERE active;

-- Per-org incident numbers. Every incident creation locks its org's row (FOR UPDATE), so numbers
-- are gapless and unique even with several replicas; max(number)+1 would race.
CREATE TABLE org_counters (
    org_id       uuid PRIMARY KEY,
    last_number  bigint NOT NULL DEFAULT 0
);

CREATE TABLE incidents (
    id               uuid PRIMARY KEY,
    org_id           uuid NOT NULL,
    number           bigint NOT NULL,
    title            text NOT NULL,
    status           text NOT NULL CHECK (status IN ('triggered', 'acknowledged', 'resolved')),
    severity         text NOT NULL,
    incident_type    text NOT NULL,
    creator_id       uuid,
    source_kind      text NOT NULL,
    external_id      text,
    html_url         text,
    service_id       text,
    service_name     text,
    created_at       timestamptz NOT NULL,
    acknowledged_at  timestamptz,
    resolved_at      timestamptz,
    updated_at       timestamptz NOT NULL,
    UNIQUE (org_id, number),
    -- A redelivered or replayed alert never starts a second incident. Manual incidents have no
    -- external id, and NULLs never collide.
    CONSTRAINT incidents_source_key UNIQUE (org_id, source_kind, external_id)
);

-- Keyset pagination: newest first, id as the tie-breaker.
CREATE INDEX incidents_org_created ON incidents (org_id, created_at DESC, id DESC);
