-- Rotation: a key's secret can be replaced while its id, name, scopes and expiry stay. The replaced
-- secret's digest stays until its grace period ends (auth enforces the end by its clock; the row
-- keeps it for the key list and for secret-scanning reports naming the old secret).
ALTER TABLE api_keys
    ADD COLUMN previous_digest       text,
    ADD COLUMN previous_valid_until  timestamptz,
    ADD COLUMN previous_used_at      timestamptz,
    ADD COLUMN rotated_at            timestamptz,
    ADD COLUMN rotated_by            uuid REFERENCES users (id),
    -- Why the key was revoked: 'revoked' by an admin, 'leaked' by a secret-scanning report.
    ADD COLUMN revoked_reason        text CHECK (revoked_reason IN ('revoked', 'leaked')),
    ADD COLUMN revoked_report_url    text,
    ADD CONSTRAINT api_keys_grace_whole
        CHECK ((previous_digest IS NULL) = (previous_valid_until IS NULL));

-- Secret-scanning reports name a secret, which may be a key's replaced one.
CREATE INDEX api_keys_previous_digest ON api_keys (previous_digest)
    WHERE previous_digest IS NOT NULL;
