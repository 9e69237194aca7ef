-- The latest rotation of each rotated API key, fed from KeyRotated on the keys topic by every
-- service that accepts access tokens: a token bought with a secret the rotation replaced is
-- refused once the grace period ends (at once for a grace of 0). Secrets appear only as their
-- fingerprints (fireline_contracts.api_keys.secret_fingerprint). Kept so a restart does not
-- forget a rotation.
CREATE TABLE key_rotations (
    key_id               uuid PRIMARY KEY,
    current_fingerprint  text NOT NULL,
    previous_fingerprint text,
    valid_until          timestamptz NOT NULL,
    rotated_at           timestamptz NOT NULL
);
