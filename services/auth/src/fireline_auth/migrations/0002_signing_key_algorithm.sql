-- Signing keys of several algorithms (RS256, ES256, Ed25519). Rows stored before this migration
-- are Ed25519 with raw 32-byte key halves; they are marked 'EdDSA', the name their tokens were
-- signed (and keep being signed) under, which also tells the service to read them raw. Every
-- newer row stores DER: PKCS#8 (sealed) and SubjectPublicKeyInfo. No default after this: a key
-- whose algorithm is not written down could be read the wrong way.
ALTER TABLE signing_keys ADD COLUMN algorithm text NOT NULL DEFAULT 'EdDSA';
ALTER TABLE signing_keys ALTER COLUMN algorithm DROP DEFAULT;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_algorithm
    CHECK (algorithm IN ('RS256', 'ES256', 'Ed25519', 'EdDSA'));
