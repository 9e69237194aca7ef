-- Addresses each account has logged in from: exempt from the account-wide login slow-down, so
-- failures an attacker causes elsewhere never lock the owner out of their usual address.
CREATE TABLE login_known_addresses (
    account          text NOT NULL,
    address          text NOT NULL,
    last_success_at  timestamptz NOT NULL,
    PRIMARY KEY (account, address)
);
CREATE INDEX login_known_addresses_last_success ON login_known_addresses (last_success_at);
-- The per-(account, address) limit counts by both.
CREATE INDEX login_failures_pair ON login_failures (account, address, failed_at);
