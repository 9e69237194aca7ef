"""What follows an attempt: done, retried on the schedule with jitter, failed, disabled."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from fireline_notifications.domain.delivery import (
    JITTER,
    MAX_RETRY_AFTER,
    AttemptResult,
    judge,
    parse_schedule,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SCHEDULE = parse_schedule("5,300,1800,7200,18000,36000,36000")
FIVE_DAYS = timedelta(days=5)


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_succeeds_and_ends_the_run_of_failures(status: int) -> None:
    verdict = judge(
        AttemptResult(status, 3.0),
        schedule_step=3,
        failing_since=NOW - timedelta(days=2),
        now=NOW,
        schedule=SCHEDULE,
        disable_after=FIVE_DAYS,
    )

    assert (verdict.outcome, verdict.state, verdict.failing_since) == (
        "succeeded",
        "succeeded",
        None,
    )
    assert verdict.next_attempt_at is None
    assert verdict.disable is None


@pytest.mark.parametrize("status", [None, 301, 400, 404, 429, 500, 503])
def test_every_other_answer_is_retried_at_the_next_step_with_jitter(status: int | None) -> None:
    for step, delay in enumerate(SCHEDULE):
        verdicts = [
            judge(
                AttemptResult(status, 1.0),
                schedule_step=step,
                failing_since=None,
                now=NOW,
                schedule=SCHEDULE,
                disable_after=FIVE_DAYS,
                rng=random.Random(seed),
            )
            for seed in range(20)
        ]
        waits = {(v.next_attempt_at - NOW).total_seconds() for v in verdicts if v.next_attempt_at}
        assert {v.outcome for v in verdicts} == {"retrying"}
        assert {v.schedule_step for v in verdicts} == {step + 1}
        assert len(waits) == 20, "every delivery gets its own delay"
        assert all(delay * (1 - JITTER) <= w <= delay * (1 + JITTER) for w in waits)
        assert {v.failing_since for v in verdicts} == {NOW}  # this failure starts the run


def test_after_the_last_retry_the_delivery_fails() -> None:
    verdict = judge(
        AttemptResult(500, 1.0),
        schedule_step=len(SCHEDULE),
        failing_since=NOW - timedelta(hours=1),
        now=NOW,
        schedule=SCHEDULE,
        disable_after=FIVE_DAYS,
    )

    assert (verdict.outcome, verdict.state, verdict.next_attempt_at) == ("failed", "failed", None)
    assert verdict.disable is None
    assert verdict.failing_since == NOW - timedelta(hours=1)


def test_410_gone_disables_at_once_and_is_not_retried() -> None:
    verdict = judge(
        AttemptResult(410, 1.0),
        schedule_step=0,
        failing_since=None,
        now=NOW,
        schedule=SCHEDULE,
        disable_after=FIVE_DAYS,
    )

    assert (verdict.outcome, verdict.state, verdict.disable) == ("gone", "failed", "gone")


@pytest.mark.parametrize(
    ("failing_for", "disabled"),
    [
        (FIVE_DAYS - timedelta(seconds=1), None),
        (FIVE_DAYS, "failing"),
        (timedelta(days=9), "failing"),
    ],
)
def test_an_endpoint_failing_for_five_days_is_disabled(
    failing_for: timedelta, disabled: str | None
) -> None:
    verdict = judge(
        AttemptResult(503, 1.0),
        schedule_step=2,
        failing_since=NOW - failing_for,
        now=NOW,
        schedule=SCHEDULE,
        disable_after=FIVE_DAYS,
    )

    assert verdict.disable == disabled
    assert verdict.failing_since == NOW - failing_for


def test_429_with_retry_after_waits_that_long_without_using_a_retry() -> None:
    verdict = judge(
        AttemptResult(429, 1.0, retry_after_s=30),
        schedule_step=2,
        failing_since=None,
        now=NOW,
        schedule=SCHEDULE,
        disable_after=FIVE_DAYS,
    )

    assert (verdict.outcome, verdict.state) == ("rate_limited", "pending")
    assert verdict.next_attempt_at == NOW + timedelta(seconds=30)
    assert verdict.schedule_step == 2


def test_a_huge_retry_after_is_capped() -> None:
    verdict = judge(
        AttemptResult(429, 1.0, retry_after_s=10**9),
        schedule_step=0,
        failing_since=None,
        now=NOW,
        schedule=SCHEDULE,
        disable_after=FIVE_DAYS,
    )

    assert verdict.next_attempt_at == NOW + MAX_RETRY_AFTER


@pytest.mark.parametrize("text", ["5,x", "5,-1", "0"])
def test_a_malformed_schedule_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="retry"):
        parse_schedule(text)
