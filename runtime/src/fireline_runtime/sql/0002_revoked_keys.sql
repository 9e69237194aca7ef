-- Deny list of revoked API keys, fed from the keys topic by every service that accepts access
-- tokens: an outstanding token of a revoked key is refused as soon as KeyRevoked arrives here,
-- not when the token expires. Kept in the database so a restart does not forget a revocation.
CREATE TABLE revoked_keys (
    key_id      uuid PRIMARY KEY,
    org_id      uuid NOT NULL,
    revoked_at  timestamptz NOT NULL
);
