-- Orgs: every user, key and session belongs to exactly one.
CREATE TABLE orgs (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX orgs_name_unique ON orgs (lower(name));

-- Emails are stored as typed (trimmed) but unique per org case-insensitively.
CREATE TABLE users (
    id             uuid PRIMARY KEY,
    org_id         uuid NOT NULL REFERENCES orgs (id),
    email          text NOT NULL,
    name           text NOT NULL,
    role           text NOT NULL CHECK (role IN ('admin', 'member')),
    password_hash  text NOT NULL,
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_org_email_unique ON users (org_id, lower(email));
-- Login looks a user up by email alone (the org comes from the match).
CREATE INDEX users_email ON users (lower(email));

-- Sessions keep only the SHA-256 of the cookie's token: a database leak yields no usable cookie.
CREATE TABLE sessions (
    id            uuid PRIMARY KEY,
    token_digest  text NOT NULL UNIQUE,
    user_id       uuid NOT NULL REFERENCES users (id),
    org_id        uuid NOT NULL REFERENCES orgs (id),
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id) WHERE revoked_at IS NULL;

-- API keys: the secret is never stored, only its SHA-256; revoked rows stay for audit.
CREATE TABLE api_keys (
    id            uuid PRIMARY KEY,
    org_id        uuid NOT NULL REFERENCES orgs (id),
    name          text NOT NULL,
    digest        text NOT NULL UNIQUE,
    hint          text NOT NULL,
    scopes        text[] NOT NULL,
    created_at    timestamptz NOT NULL,
    created_by    uuid REFERENCES users (id),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    revoked_by    uuid REFERENCES users (id),
    last_used_at  timestamptz
);
CREATE INDEX api_keys_org_active ON api_keys (org_id, created_at) WHERE revoked_at IS NULL;
CREATE INDEX api_keys_org ON api_keys (org_id, created_at);

-- Failed logins, counted per account and per client address over a sliding window; shared by
-- every replica. Old rows are pruned by a background loop.
CREATE TABLE login_failures (
    id         bigserial PRIMARY KEY,
    account    text NOT NULL,
    address    text NOT NULL,
    failed_at  timestamptz NOT NULL
);
CREATE INDEX login_failures_account ON login_failures (account, failed_at);
CREATE INDEX login_failures_address ON login_failures (address, failed_at);
CREATE INDEX login_failures_failed_at ON login_failures (failed_at);
