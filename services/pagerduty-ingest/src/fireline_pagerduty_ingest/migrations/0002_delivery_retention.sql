-- Finished deliveries (published, ignored, failed) are deleted once older than the retention
-- setting. This index keeps that periodic query to the rows it deletes, however big the table.
-- processed_at is set whenever a delivery finishes, and never before it was received.
CREATE INDEX deliveries_finished ON deliveries (processed_at) WHERE status <> 'received';
