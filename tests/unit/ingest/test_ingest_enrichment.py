"""Enrichment against a fake PagerDuty REST API in every mode: emails when it answers, a
degraded but still publishable result when it does not, and no calls it should not make."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from fireline_pagerduty_ingest.adapters.pagerduty import (
    RECENT_CALLS,
    UNANSWERED_PAUSE_S,
    UNANSWERED_TO_PAUSE,
    PagerDutyClient,
    RateLimited,
)
from fireline_pagerduty_ingest.domain.enrichment import (
    ApiCredentials,
    Enrichment,
    OnCallEntry,
    PagerDutyUnavailable,
    enrichment_status,
    oncall_emails,
)
from fireline_pagerduty_ingest.domain.webhook import WebhookEvent, parse_delivery
from fireline_pagerduty_ingest.service_layer.enrichment import enrich
from support.fake_pagerduty import DEFAULT_TOKEN, FakePagerDuty, OnCall
from support.pagerduty_fixtures import (
    ESCALATION_POLICY_ID,
    ON_CALL_USER_ID,
    ONCALLS,
    TRIGGERING_USER_ID,
    USERS,
    delivery,
)

ADA = USERS[TRIGGERING_USER_ID]["email"]
GRACE = USERS[ON_CALL_USER_ID]["email"]
ALLOWED_HOSTS = frozenset({"api.pagerduty.com", "127.0.0.1"})
"""PagerDuty and the fake on loopback."""
# Generous, so a loaded machine's slow loopback answer is never mistaken for a timeout.
CALL_TIMEOUT_S = 2.0
BUDGET_S = 5.0
# For the slow-PagerDuty test alone: both lookups time out well inside the budget, and the
# fake's slow answers come long after the timeout.
SHORT_CALL_TIMEOUT_S = 0.3
SHORT_BUDGET_S = 1.0
SLOW_DELAY_S = 2.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    async with FakePagerDuty(users=USERS, oncalls=ONCALLS, slow_delay=SLOW_DELAY_S) as fake:
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def client(http: httpx.AsyncClient, clock: FakeClock) -> PagerDutyClient:
    return PagerDutyClient(
        http,
        allowed_hosts=ALLOWED_HOSTS,
        call_timeout_s=CALL_TIMEOUT_S,
        user_ttl_s=600,
        oncall_ttl_s=60,
        clock=clock,
    )


@pytest.fixture
def credentials(pagerduty: FakePagerDuty) -> ApiCredentials:
    return ApiCredentials(base_url=pagerduty.url, token=DEFAULT_TOKEN)


@pytest.fixture
def triggered() -> WebhookEvent:
    return parse_delivery(delivery("incident_triggered"))


async def _enrich(
    client: PagerDutyClient, credentials: ApiCredentials | None, event: WebhookEvent
) -> Enrichment:
    return await enrich(directory=client, credentials=credentials, event=event, budget_s=BUDGET_S)


async def test_normal_mode_finds_the_creator_and_the_on_call_emails(
    client: PagerDutyClient,
    credentials: ApiCredentials,
    triggered: WebhookEvent,
    pagerduty: FakePagerDuty,
) -> None:
    result = await _enrich(client, credentials, triggered)

    assert result == Enrichment(creator_email=ADA, oncall_emails=(GRACE,), status="complete")
    oncalls = pagerduty.requests_to("/oncalls")[0]
    assert oncalls.query_values("escalation_policy_ids[]") == [ESCALATION_POLICY_ID]
    assert oncalls.query_values("include[]") == ["users"]
    user = pagerduty.requests_to("/users/")[0]
    assert user.headers["authorization"] == f"Token token={DEFAULT_TOKEN}"
    assert user.headers["accept"] == "application/vnd.pagerduty+json;version=2"


async def test_on_call_emails_come_lowest_escalation_level_first(
    client: PagerDutyClient,
    credentials: ApiCredentials,
    triggered: WebhookEvent,
    pagerduty: FakePagerDuty,
) -> None:
    pagerduty.set_user("PLVL3", email="third@example.com")
    pagerduty.set_oncalls(
        ESCALATION_POLICY_ID,
        [OnCall("PLVL3", 3), OnCall(ON_CALL_USER_ID, 2), OnCall(TRIGGERING_USER_ID, 1)],
    )

    result = await _enrich(client, credentials, triggered)

    assert result.oncall_emails == (ADA, GRACE, "third@example.com")


async def test_slow_pagerduty_degrades_to_no_email_and_the_alert_can_still_go_out(
    http: httpx.AsyncClient,
    clock: FakeClock,
    credentials: ApiCredentials,
    triggered: WebhookEvent,
    pagerduty: FakePagerDuty,
) -> None:
    pagerduty.set_mode("slow")
    impatient = PagerDutyClient(
        http, allowed_hosts=ALLOWED_HOSTS, call_timeout_s=SHORT_CALL_TIMEOUT_S, clock=clock
    )

    result = await enrich(
        directory=impatient, credentials=credentials, event=triggered, budget_s=SHORT_BUDGET_S
    )

    assert result == Enrichment(creator_email=None, oncall_emails=(), status="failed")
    assert len(pagerduty.requests) == 2, "both lookups were tried"


async def test_a_failing_pagerduty_degrades_to_no_email(
    client: PagerDutyClient,
    credentials: ApiCredentials,
    triggered: WebhookEvent,
    pagerduty: FakePagerDuty,
) -> None:
    pagerduty.set_mode("error")

    result = await _enrich(client, credentials, triggered)

    assert result == Enrichment(creator_email=None, oncall_emails=(), status="failed")


async def test_a_rate_limit_degrades_and_pauses_calls_until_the_reset(
    client: PagerDutyClient,
    credentials: ApiCredentials,
    triggered: WebhookEvent,
    pagerduty: FakePagerDuty,
    clock: FakeClock,
) -> None:
    pagerduty.set_mode("ratelimited", reset_seconds=30)

    first = await _enrich(client, credentials, triggered)
    assert first.status == "failed"
    calls_after_429 = len(pagerduty.requests)

    pagerduty.set_mode("normal")
    clock.advance(29)
    during_pause = await _enrich(client, credentials, triggered)

    assert during_pause == Enrichment(creator_email=None, oncall_emails=(), status="failed")
    assert len(pagerduty.requests) == calls_after_429, "no call before ratelimit-reset"

    clock.advance(2)
    after_reset = await _enrich(client, credentials, triggered)

    assert after_reset == Enrichment(creator_email=ADA, oncall_emails=(GRACE,), status="complete")


async def test_a_rate_limit_is_reported_as_such(
    client: PagerDutyClient, credentials: ApiCredentials, pagerduty: FakePagerDuty
) -> None:
    pagerduty.set_mode("ratelimited")

    with pytest.raises(RateLimited):
        await client.user_email(credentials, TRIGGERING_USER_ID)
    with pytest.raises(RateLimited):
        await client.oncalls(credentials, ESCALATION_POLICY_ID)


async def _unanswered(client: PagerDutyClient, credentials: ApiCredentials, times: int) -> None:
    for _ in range(times):
        with pytest.raises(PagerDutyUnavailable):
            await client.user_email(credentials, TRIGGERING_USER_ID)


async def _refused_without_a_call(
    client: PagerDutyClient, credentials: ApiCredentials, pagerduty: FakePagerDuty
) -> None:
    asked = len(pagerduty.requests)
    with pytest.raises(PagerDutyUnavailable, match="paused"):
        await client.oncalls(credentials, ESCALATION_POLICY_ID)
    assert len(pagerduty.requests) == asked, "no call while paused"


async def test_a_pagerduty_that_keeps_failing_is_not_called_for_a_while(
    client: PagerDutyClient,
    credentials: ApiCredentials,
    pagerduty: FakePagerDuty,
    clock: FakeClock,
) -> None:
    pagerduty.set_mode("error")
    await _unanswered(client, credentials, UNANSWERED_TO_PAUSE)

    await _refused_without_a_call(client, credentials, pagerduty)

    asked = len(pagerduty.requests)
    pagerduty.set_mode("normal")
    clock.advance(UNANSWERED_PAUSE_S)
    assert await client.user_email(credentials, TRIGGERING_USER_ID) == ADA
    # Its answer resumed the calls: the next one goes out at once.
    assert await client.oncalls(credentials, ESCALATION_POLICY_ID)
    assert len(pagerduty.requests) == asked + 2


async def test_a_few_unanswered_calls_among_answered_ones_pause_nothing(
    client: PagerDutyClient, credentials: ApiCredentials, pagerduty: FakePagerDuty
) -> None:
    # A pass's quick answers come first and its timeouts together after them: a run of
    # failures at the end says little while most of the recent calls were answered.
    answered = 2 * UNANSWERED_TO_PAUSE
    assert answered + UNANSWERED_TO_PAUSE <= RECENT_CALLS
    for n in range(answered):
        assert await client.user_email(credentials, f"PUNKNOWN{n}") is None  # a 404: an answer
    pagerduty.set_mode("error")
    await _unanswered(client, credentials, UNANSWERED_TO_PAUSE)
    asked = len(pagerduty.requests)

    await _unanswered(client, credentials, 1)
    assert len(pagerduty.requests) == asked + 1, "still called"


async def test_after_a_pause_one_call_goes_out_and_its_failure_pauses_again(
    client: PagerDutyClient,
    credentials: ApiCredentials,
    pagerduty: FakePagerDuty,
    clock: FakeClock,
) -> None:
    pagerduty.set_mode("error")
    await _unanswered(client, credentials, UNANSWERED_TO_PAUSE)
    clock.advance(UNANSWERED_PAUSE_S)
    asked = len(pagerduty.requests)

    # Together, as a worker pass's lookups start.
    await asyncio.gather(*(_unanswered(client, credentials, 1) for _ in range(4)))

    assert len(pagerduty.requests) == asked + 1, "only the call that tries PagerDuty again"
    clock.advance(CALL_TIMEOUT_S)  # its failure paused the calls again, for longer than this
    await _refused_without_a_call(client, credentials, pagerduty)


async def test_timeouts_pause_calls_too(
    http: httpx.AsyncClient, clock: FakeClock, credentials: ApiCredentials, pagerduty: FakePagerDuty
) -> None:
    pagerduty.set_mode("slow")
    impatient = PagerDutyClient(
        http, allowed_hosts=ALLOWED_HOSTS, call_timeout_s=SHORT_CALL_TIMEOUT_S, clock=clock
    )
    # Together, as a worker pass's deliveries make them: all time out at about the same moment.
    await asyncio.gather(
        *(_unanswered(impatient, credentials, 1) for _ in range(UNANSWERED_TO_PAUSE))
    )

    await _refused_without_a_call(impatient, credentials, pagerduty)


async def test_a_pause_holds_only_for_its_token(
    client: PagerDutyClient, credentials: ApiCredentials, pagerduty: FakePagerDuty
) -> None:
    pagerduty.set_mode("error")
    await _unanswered(client, credentials, UNANSWERED_TO_PAUSE)
    another = ApiCredentials(base_url=pagerduty.url, token="another-accounts-token")
    asked = len(pagerduty.requests)

    await _unanswered(client, another, 1)
    assert len(pagerduty.requests) == asked + 1


async def test_without_an_api_token_nothing_is_looked_up(
    client: PagerDutyClient, triggered: WebhookEvent, pagerduty: FakePagerDuty
) -> None:
    result = await _enrich(client, None, triggered)

    assert result == Enrichment(creator_email=None, oncall_emails=(), status="skipped")
    assert pagerduty.requests == []


async def test_an_api_url_no_longer_allowed_gets_no_call_and_degrades_to_no_email(
    http: httpx.AsyncClient, triggered: WebhookEvent, pagerduty: FakePagerDuty
) -> None:
    # The integration was saved while loopback was allowed; the operator has removed it since.
    stricter = PagerDutyClient(http, allowed_hosts={"api.pagerduty.com"})
    stored = ApiCredentials(base_url=pagerduty.url, token=DEFAULT_TOKEN)

    result = await _enrich(stricter, stored, triggered)

    assert result == Enrichment(creator_email=None, oncall_emails=(), status="failed")
    assert pagerduty.requests == [], "the token was not sent anywhere"
    with pytest.raises(PagerDutyUnavailable):
        await stricter.oncalls(stored, ESCALATION_POLICY_ID)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://api.pagerduty.com",
        "https://api.pagerduty.com@127.0.0.1",
        "https://127.0.0.1.evil.test",
    ],
)
async def test_a_stored_url_that_breaks_the_rule_is_never_called(
    client: PagerDutyClient, pagerduty: FakePagerDuty, base_url: str
) -> None:
    with pytest.raises(PagerDutyUnavailable, match="not allowed"):
        await client.user_email(ApiCredentials(base_url=base_url, token=DEFAULT_TOKEN), "PX")


async def test_a_wrong_token_degrades_to_no_email(
    client: PagerDutyClient, triggered: WebhookEvent, pagerduty: FakePagerDuty
) -> None:
    wrong = ApiCredentials(base_url=pagerduty.url, token="not-the-token")

    result = await _enrich(client, wrong, triggered)

    assert result.status == "failed"
    assert result.creator_email is None


async def test_an_agent_unknown_to_pagerduty_leaves_only_the_creator_out(
    client: PagerDutyClient,
    credentials: ApiCredentials,
    triggered: WebhookEvent,
    pagerduty: FakePagerDuty,
) -> None:
    pagerduty.remove_user(TRIGGERING_USER_ID)

    result = await _enrich(client, credentials, triggered)

    assert result == Enrichment(creator_email=None, oncall_emails=(GRACE,), status="complete")


async def test_one_failed_lookup_out_of_two_is_partial(
    client: PagerDutyClient,
    credentials: ApiCredentials,
    triggered: WebhookEvent,
    pagerduty: FakePagerDuty,
) -> None:
    # The creator's email is cached from an earlier alert; then PagerDuty starts failing, so
    # only the on-call lookup goes out, and fails.
    assert await client.user_email(credentials, TRIGGERING_USER_ID) == ADA
    pagerduty.set_mode("error")

    result = await _enrich(client, credentials, triggered)

    assert result == Enrichment(creator_email=ADA, oncall_emails=(), status="partial")


async def test_an_events_api_trigger_only_looks_up_the_on_call_users(
    client: PagerDutyClient, credentials: ApiCredentials, pagerduty: FakePagerDuty
) -> None:
    event = parse_delivery(delivery("incident_triggered_agent_null"))

    result = await _enrich(client, credentials, event)

    assert result == Enrichment(creator_email=None, oncall_emails=(GRACE,), status="complete")
    assert pagerduty.requests_to("/users/") == []


async def test_an_acknowledgers_email_is_not_taken_for_the_creators(
    client: PagerDutyClient, credentials: ApiCredentials, pagerduty: FakePagerDuty
) -> None:
    event = parse_delivery(delivery("incident_acknowledged"))

    result = await _enrich(client, credentials, event)

    assert result.creator_email is None
    assert result.oncall_emails == (GRACE,)
    assert pagerduty.requests_to("/users/") == []


async def test_emails_are_cached_until_their_ttl_runs_out(
    client: PagerDutyClient,
    credentials: ApiCredentials,
    pagerduty: FakePagerDuty,
    clock: FakeClock,
) -> None:
    assert await client.user_email(credentials, TRIGGERING_USER_ID) == ADA
    pagerduty.set_user(TRIGGERING_USER_ID, email="ada@new.example.com")

    clock.advance(599)
    cached = await client.user_email(credentials, TRIGGERING_USER_ID)
    clock.advance(2)
    refreshed = await client.user_email(credentials, TRIGGERING_USER_ID)

    assert cached == ADA
    assert refreshed == "ada@new.example.com"
    assert len(pagerduty.requests_to("/users/")) == 2


async def test_on_call_lists_are_cached_for_their_shorter_ttl(
    client: PagerDutyClient,
    credentials: ApiCredentials,
    pagerduty: FakePagerDuty,
    clock: FakeClock,
) -> None:
    first = await client.oncalls(credentials, ESCALATION_POLICY_ID)
    clock.advance(30)
    await client.oncalls(credentials, ESCALATION_POLICY_ID)
    clock.advance(31)
    await client.oncalls(credentials, ESCALATION_POLICY_ID)

    assert oncall_emails(first) == (GRACE,)
    assert len(pagerduty.requests_to("/oncalls")) == 2


async def test_the_cache_is_per_pagerduty_account(
    client: PagerDutyClient, credentials: ApiCredentials, pagerduty: FakePagerDuty
) -> None:
    other_account = ApiCredentials(base_url=pagerduty.url, token="another-token")

    assert await client.user_email(credentials, TRIGGERING_USER_ID) == ADA
    with pytest.raises(PagerDutyUnavailable):
        await client.user_email(other_account, TRIGGERING_USER_ID)


def test_credentials_never_show_their_token() -> None:
    credentials = ApiCredentials(base_url="https://api.pagerduty.com", token="s3cr3t-token")

    assert "s3cr3t-token" not in repr(credentials)
    assert "s3cr3t-token" not in credentials.fingerprint


def test_on_call_emails_skip_missing_emails_and_repeat_people() -> None:
    entries = [
        OnCallEntry(escalation_level=2, email="b@example.com"),
        OnCallEntry(escalation_level=1, email="A@example.com"),
        OnCallEntry(escalation_level=1, email=None),
        OnCallEntry(escalation_level=3, email="a@example.com"),
    ]

    assert oncall_emails(entries) == ("A@example.com", "b@example.com")


@pytest.mark.parametrize(
    ("attempted", "succeeded", "status"),
    [(0, 0, "complete"), (2, 2, "complete"), (2, 1, "partial"), (2, 0, "failed")],
)
def test_enrichment_status_says_how_much_was_found(
    attempted: int, succeeded: int, status: str
) -> None:
    assert enrichment_status(attempted=attempted, succeeded=succeeded) == status
