-- Auth's projection of identity's API keys, rebuilt from the keys topic. Order-safe per key:
-- a row can be created by any of the key's events (a rename or a revocation may be replayed before
-- the creation), `revoked_at` is only ever set once (revocation is final), and a rename only wins
-- over an older one (`name_event_at`). A row without a digest has not seen its KeyCreated yet and
-- can never authenticate.
CREATE TABLE api_keys (
    key_id         uuid PRIMARY KEY,
    org_id         uuid NOT NULL,
    name           text,
    name_event_at  timestamptz,
    digest         text,
    scopes         text[] NOT NULL DEFAULT '{}',
    expires_at     timestamptz,
    created_at     timestamptz,
    revoked_at     timestamptz,
    last_event_at  timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- The Blameless-style exchange has only the secret, so it looks keys up by digest. Deliberately
-- not UNIQUE: a violation message would quote the digest into logs and dead-letter headers.
CREATE INDEX api_keys_digest ON api_keys (digest) WHERE digest IS NOT NULL;

-- Ed25519 signing keys. Private keys are AES-GCM encrypted (nonce || ciphertext, the kid as
-- associated data so rows cannot be swapped). A key is published in the JWKS from `created_at`,
-- signs from `activates_at` until the next key's `activates_at`, and is deleted once every token it
-- signed has expired.
CREATE TABLE signing_keys (
    kid                     text PRIMARY KEY,
    public_key              bytea NOT NULL,
    private_key_encrypted   bytea NOT NULL,
    created_at              timestamptz NOT NULL,
    activates_at            timestamptz NOT NULL
);

CREATE INDEX signing_keys_activates_at ON signing_keys (activates_at);

-- When auth last announced a key's use; KeyUsed is coalesced to one per key per interval.
CREATE TABLE key_usage_marks (
    key_id           uuid PRIMARY KEY,
    last_emitted_at  timestamptz NOT NULL
);
