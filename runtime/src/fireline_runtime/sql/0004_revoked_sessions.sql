-- Deny list of ended people's sessions, fed from identity's sessions topic (SessionRevoked: a
-- logout, or a deactivated user's sessions) by every service that accepts access tokens. A token
-- issued to a person names its session (`sid`), and is refused here as soon as the session ends,
-- exactly like a revoked key's tokens in revoked_keys.
CREATE TABLE revoked_sessions (
    session_id  uuid PRIMARY KEY,
    org_id      uuid NOT NULL,
    revoked_at  timestamptz NOT NULL
);
