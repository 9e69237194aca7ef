-- A delivery's row is written three times: stored, leased by the worker, marked published. Its raw
-- body and parsed form never change after the first write, and a row over 2 KB (an incident's
-- delivery with both) had them compressed inline, so each later write logged them again. With
-- the toaster's target lowered from about 2 KB to 512 bytes it moves them out of line, and the
-- two later writes log pointers instead (BENCHMARKS.md, "Third wave, session 5": 4.5 -> 1.4 KB of
-- WAL per delivery for the two). Rows written before this keep their layout.
ALTER TABLE deliveries SET (toast_tuple_target = 512);
