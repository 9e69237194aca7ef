-- The W3C traceparent of the request that stored a delivery (NULL while tracing is off), so the
-- enrichment worker, which picks the delivery up later in another task or process, continues that
-- request's trace instead of starting a new one.
ALTER TABLE deliveries ADD COLUMN traceparent text;
