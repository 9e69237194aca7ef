-- Rotation: a key's secret changes, so the digest is no longer set once. The newest event that
-- carries the key's secrets (`secret_event_at`) decides the digest and the replaced secret's
-- digest, which is accepted until `previous_valid_until` by the clock (no event marks its end).
ALTER TABLE api_keys
    ADD COLUMN previous_digest       text,
    ADD COLUMN previous_valid_until  timestamptz,
    ADD COLUMN secret_event_at       timestamptz;

-- The Blameless-style exchange finds a key by either secret.
CREATE INDEX api_keys_previous_digest ON api_keys (previous_digest)
    WHERE previous_digest IS NOT NULL;

-- Uses of a replaced secret are announced apart from the current secret's, so identity learns of
-- a machine still on the old secret even while the key is in use with the new one.
ALTER TABLE key_usage_marks
    ADD COLUMN previous_secret boolean NOT NULL DEFAULT false,
    DROP CONSTRAINT key_usage_marks_pkey,
    ADD PRIMARY KEY (key_id, previous_secret);
