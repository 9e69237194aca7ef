-- Each integration's PagerDuty priority → Fireline severity map (issue 13). Existing
-- integrations get the default map every new one starts with (domain.integration).
ALTER TABLE integrations
    ADD COLUMN priority_severities jsonb NOT NULL
    DEFAULT '{"P1": "SEV1", "P2": "SEV2", "P3": "SEV3", "P4": "SEV4", "P5": "SEV5"}';
