-- Webhook endpoints. The URL is sealed (fireline_runtime.secret_box): a Slack incoming-webhook
-- URL is itself the credential that posts to the channel. `host` is kept in clear for logs and
-- audit events. `failing_since` is the first failure of the current unbroken run of failures;
-- it disables the endpoint once it is old enough.
CREATE TABLE webhook_endpoints (
    id               uuid PRIMARY KEY,
    org_id           uuid NOT NULL,
    url_sealed       bytea NOT NULL,
    host             text NOT NULL,
    description      text NOT NULL DEFAULT '',
    event_types      text[] NOT NULL DEFAULT '{}',
    format           text NOT NULL CHECK (format IN ('standard', 'slack')),
    enabled          boolean NOT NULL DEFAULT true,
    disabled_reason  text CHECK (disabled_reason IN ('gone', 'failing', 'admin')),
    disabled_at      timestamptz,
    failing_since    timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id, created_at, id);

-- Signing secrets, sealed. A rotation gives the old ones an `expires_at` 24 hours ahead, and
-- until then every secret signs (several signatures in one header).
CREATE TABLE endpoint_secrets (
    id             uuid PRIMARY KEY,
    endpoint_id    uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    secret_sealed  bytea NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz
);

CREATE INDEX endpoint_secrets_endpoint ON endpoint_secrets (endpoint_id, created_at DESC);

-- One row per event and endpoint, written in the consumer's inbox transaction. `body` is the
-- exact text every attempt sends. A pending row is due at `next_attempt_at`; a claim moves that
-- forward by the lease, so a process that dies mid-send leaves the row due again later.
CREATE TABLE deliveries (
    id               uuid PRIMARY KEY,
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    org_id           uuid NOT NULL,
    event_type       text NOT NULL,
    body             text NOT NULL,
    state            text NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    schedule_step    integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    next_attempt_at  timestamptz,
    finished_at      timestamptz
);

CREATE INDEX deliveries_due ON deliveries (endpoint_id, next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX deliveries_finished ON deliveries (finished_at) WHERE state <> 'pending';

-- The delivery log: every attempt, newest (highest `seq`) first per endpoint.
CREATE TABLE delivery_attempts (
    id             uuid PRIMARY KEY,
    seq            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    delivery_id    uuid NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    endpoint_id    uuid NOT NULL,
    event_type     text NOT NULL,
    attempted_at   timestamptz NOT NULL,
    status_code    integer,
    latency_ms     double precision NOT NULL,
    error          text,
    response_body  text,
    outcome        text NOT NULL,
    next_retry_at  timestamptz
);

CREATE INDEX delivery_attempts_log ON delivery_attempts (endpoint_id, seq DESC);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id);

-- What Slack messages say of an incident, kept from the incidents topic.
CREATE TABLE incidents (
    incident_id    uuid PRIMARY KEY,
    org_id         uuid NOT NULL,
    number         bigint,
    title          text,
    severity       text,
    status         text,
    pagerduty_url  text
);
