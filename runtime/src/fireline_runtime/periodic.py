"""The one way a service runs background work on a schedule.

Every loop needs the same three things, and each hand-written one had forgotten one of them:
it must survive any error (logged, never swallowed), back off while the database is away rather
than spin, and stop at once when the service shuts down (cancellation is never caught).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from fireline_runtime.db import TRANSIENT_DB_ERRORS

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[bool | None]]
"""One pass of the work; True when more is waiting and the next pass should start at once."""


async def run_periodically(
    name: str,
    step: Step,
    *,
    interval_s: float,
    initial_delay_s: float = 0.0,
    max_backoff_s: float = 30.0,
    wake: asyncio.Event | None = None,
) -> None:
    """Run ``step`` every ``interval_s`` until cancelled.

    A failed pass is logged (a database outage as a warning, anything else with its traceback)
    and the next one waits twice as long, up to ``max_backoff_s``; a good pass resets the wait.
    ``wake``, when set, ends a wait early (new work arrived); it is cleared before each pass so a
    wake during the pass is not lost.
    """
    if initial_delay_s > 0:
        await asyncio.sleep(initial_delay_s)
    delay = interval_s
    while True:
        if wake is not None:
            wake.clear()
        try:
            more = await step()
            delay = interval_s
        except asyncio.CancelledError:
            raise
        except TRANSIENT_DB_ERRORS as exc:
            log.warning("%s: database unavailable; retrying", name, extra={"error": repr(exc)})
            more, delay = False, min(delay * 2, max_backoff_s)
        except Exception:  # the loop must outlive any one failure; the next pass tries again
            log.exception("%s failed; retrying", name)
            more, delay = False, min(delay * 2, max_backoff_s)
        if not more:
            await _wait(delay, wake)


async def _wait(seconds: float, wake: asyncio.Event | None) -> None:
    if wake is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), seconds)
