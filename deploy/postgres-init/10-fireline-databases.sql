-- One database per Fireline service: each service owns its data and never reads another's.
--
-- The postgres image runs this once, when the data volume is first initialised (as POSTGRES_USER,
-- which therefore owns the databases). On an existing volume it does not run again: create a
-- database added later by hand (`docker compose exec postgres createdb -U fireline <name>`).
-- Each service applies its own migrations inside its database at start-up.

CREATE DATABASE fireline_identity;
CREATE DATABASE fireline_auth;
CREATE DATABASE fireline_incidents;
CREATE DATABASE fireline_pagerduty_ingest;
CREATE DATABASE fireline_notifications;

