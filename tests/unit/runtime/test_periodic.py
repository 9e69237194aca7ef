"""run_periodically: the one loop every service's background work runs in."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from fireline_runtime.periodic import run_periodically


async def test_a_failing_pass_is_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    passes = 0
    third = asyncio.Event()

    async def step() -> None:
        nonlocal passes
        passes += 1
        if passes == 3:
            third.set()
        if passes == 1:
            raise RuntimeError("boom")
        if passes == 2:
            raise asyncpg.CannotConnectNowError("restarting")

    with caplog.at_level(logging.WARNING, logger="fireline_runtime.periodic"):
        loop = asyncio.create_task(run_periodically("probe", step, interval_s=0.01))
        await asyncio.wait_for(third.wait(), 5)
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
    messages = [r.getMessage() for r in caplog.records]
    assert "probe failed; retrying" in messages
    assert "probe: database unavailable; retrying" in messages
    assert any(r.exc_info for r in caplog.records if r.levelno == logging.ERROR)


async def test_more_work_runs_at_once_and_a_wake_ends_the_wait() -> None:
    wake = asyncio.Event()
    seen: list[int] = []
    reached = asyncio.Event()

    async def step() -> bool:
        seen.append(len(seen))
        if len(seen) == 4:
            reached.set()
        return len(seen) < 3  # the first two passes report more work waiting

    loop = asyncio.create_task(run_periodically("probe", step, interval_s=3600, wake=wake))
    while len(seen) < 3:
        await asyncio.sleep(0.001)
    # Three passes ran without any wait; the fourth waits an hour unless woken.
    wake.set()
    await asyncio.wait_for(reached.wait(), 5)
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
