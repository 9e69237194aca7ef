-- PagerDuty integrations of each org. Secret material (the API token here, signing secrets below)
-- is stored only as AES-GCM ciphertext; the key comes from settings, never from this database.
-- Deleting an integration keeps the row (deliveries reference it, and its org owns any delivery
-- still being enriched) but wipes every secret and stops the receiver from answering for it.
CREATE TABLE integrations (
    id                     uuid PRIMARY KEY,
    org_id                 uuid NOT NULL,
    name                   text NOT NULL,
    pagerduty_api_url      text NOT NULL,
    api_token_ciphertext   bytea,
    default_severity       text,
    default_incident_type  text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    deleted_at             timestamptz
);

CREATE INDEX integrations_of_org ON integrations (org_id, created_at) WHERE deleted_at IS NULL;

-- Signing secrets: at most two active per integration (enforced by the use case under a row lock
-- on the integration), so a rotation can overlap the old and the new secret.
CREATE TABLE signing_secrets (
    id              uuid PRIMARY KEY,
    integration_id  uuid NOT NULL REFERENCES integrations (id),
    ciphertext      bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    retired_at      timestamptz,
    CHECK ((retired_at IS NULL) = (ciphertext IS NOT NULL))
);

CREATE INDEX signing_secrets_active ON signing_secrets (integration_id) WHERE retired_at IS NULL;

-- Every accepted webhook delivery, stored before the 202 is sent: this row is what makes the
-- answer durable. Lifecycle deliveries start as 'received' and a background worker enriches and
-- publishes them ('published'); everything else is recorded as 'ignored'. A delivery that can
-- never be published (after bounded attempts) becomes 'failed' so it stops blocking its incident.
CREATE TABLE deliveries (
    id                 bigserial PRIMARY KEY,
    integration_id     uuid NOT NULL REFERENCES integrations (id),
    org_id             uuid NOT NULL,
    dedupe_key         text NOT NULL,
    event_id           text NOT NULL,
    event_type         text NOT NULL,
    incident_id        text,
    status             text NOT NULL
                       CHECK (status IN ('received', 'published', 'ignored', 'failed')),
    body               bytea NOT NULL,
    incident_type      text,
    severity           text,
    correlation_id     text,
    received_at        timestamptz NOT NULL DEFAULT now(),
    claim_id           uuid,
    lease_until        timestamptz,
    attempts           integer NOT NULL DEFAULT 0,
    enrichment_status  text,
    last_error         text,
    processed_at       timestamptz,
    -- PagerDuty delivers at least once and repeats X-Webhook-Id on every retry.
    CONSTRAINT deliveries_dedupe UNIQUE (integration_id, dedupe_key)
);

-- The worker only looks at pending rows; partial indexes keep its claim query small.
CREATE INDEX deliveries_pending ON deliveries (id) WHERE status = 'received';
CREATE INDEX deliveries_pending_by_incident ON deliveries (incident_id, id)
    WHERE status = 'received';
