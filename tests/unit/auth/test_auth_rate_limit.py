"""Failed attempts are limited per client id and per address, in a sliding window."""

from __future__ import annotations

import pytest

from fireline_auth.adapters.rate_limit import SlidingWindowLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_blocks_after_the_limit_and_says_when_to_retry() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(limit=3, window_s=60, clock=clock)
    ids = ["client:a", "addr:1.2.3.4"]
    for _ in range(2):
        limiter.record_failure(ids)
        clock.now += 10
    assert limiter.retry_after(ids) is None
    limiter.record_failure(ids)  # third failure at t=1020, first was at t=1000
    assert limiter.retry_after(ids) == 40
    clock.now += 39.5
    assert limiter.retry_after(ids) == 1
    clock.now += 0.5
    assert limiter.retry_after(ids) is None, "the oldest failure left the window"


def test_either_identifier_blocks() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(limit=2, window_s=60, clock=clock)
    limiter.record_failure(["client:a", "addr:x"])
    limiter.record_failure(["client:b", "addr:x"])
    assert limiter.retry_after(["client:c", "addr:x"]) is not None, "same address"
    assert limiter.retry_after(["client:a", "addr:y"]) is None
    limiter.record_failure(["client:a", "addr:y"])
    assert limiter.retry_after(["client:a", "addr:z"]) is not None, "same client"


def test_memory_stays_bounded() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(limit=5, window_s=60, clock=clock, max_tracked=100)
    for i in range(1000):
        limiter.record_failure([f"client:{i}"])
    assert len(limiter._failures) <= 100


def test_rejects_a_nonsense_configuration() -> None:
    with pytest.raises(ValueError, match="limit"):
        SlidingWindowLimiter(limit=0, window_s=60)
