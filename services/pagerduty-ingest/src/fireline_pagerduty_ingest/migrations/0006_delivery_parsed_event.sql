-- The delivery as the receiver parsed it (the JSON of its WebhookEvent), stored in the same INSERT
-- as the raw body, so the enrichment worker does not parse and normalise the body a second time.
-- NULL for deliveries that are never published ('ignored') and for rows stored before this
-- column existed: the worker parses their raw body, which stays the record of what was sent.
-- text, not jsonb: PostgreSQL never looks inside it, and jsonb would parse it once more.
ALTER TABLE deliveries ADD COLUMN parsed_event text;
