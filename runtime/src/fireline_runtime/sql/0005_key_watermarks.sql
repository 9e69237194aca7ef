-- How current this service's view of identity's keys topic is: the latest watermark applied from
-- each partition (keys_view.py). Every replica reads it; the consumer that applied it notifies.
CREATE TABLE key_watermarks (
    partition  integer PRIMARY KEY,
    partitions integer NOT NULL,
    as_of      timestamptz NOT NULL
);
