"""On-call lists longer than one PagerDuty page: every page followed (up to a cap), and the
emails still ordered by escalation level across pages."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from fireline_pagerduty_ingest.adapters.pagerduty import MAX_ONCALL_PAGES, PagerDutyClient
from fireline_pagerduty_ingest.domain.enrichment import (
    ApiCredentials,
    Enrichment,
    PagerDutyUnavailable,
    oncall_emails,
)
from fireline_pagerduty_ingest.domain.webhook import parse_delivery
from fireline_pagerduty_ingest.service_layer.enrichment import enrich
from support.fake_pagerduty import DEFAULT_TOKEN, FakePagerDuty, OnCall
from support.pagerduty_fixtures import ESCALATION_POLICY_ID, delivery

PAGE_SIZE = 2

# Seven people over three levels, listed the way PagerDuty may page them: not by level.
ROTATION = [
    OnCall("PL3A", 3),
    OnCall("PL2A", 2),
    OnCall("PL1A", 1),
    OnCall("PL3B", 3),
    OnCall("PL2B", 2),
    OnCall("PL1B", 1),
]
USERS = {entry.user_id: {"email": f"{entry.user_id.lower()}@example.com"} for entry in ROTATION}
IN_ESCALATION_ORDER = tuple(
    f"{user_id.lower()}@example.com" for user_id in ("PL1A", "PL1B", "PL2A", "PL2B", "PL3A", "PL3B")
)


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    async with FakePagerDuty(
        users=USERS, oncalls={ESCALATION_POLICY_ID: ROTATION}, page_size=PAGE_SIZE
    ) as fake:
        yield fake


@pytest.fixture
async def client() -> AsyncIterator[PagerDutyClient]:
    async with httpx.AsyncClient() as http:
        yield PagerDutyClient(http, allowed_hosts={"127.0.0.1"}, call_timeout_s=1.0)


@pytest.fixture
def credentials(pagerduty: FakePagerDuty) -> ApiCredentials:
    return ApiCredentials(base_url=pagerduty.url, token=DEFAULT_TOKEN)


async def test_three_pages_give_every_email_in_escalation_order(
    client: PagerDutyClient, credentials: ApiCredentials, pagerduty: FakePagerDuty
) -> None:
    event = parse_delivery(delivery("incident_acknowledged"))

    result = await enrich(directory=client, credentials=credentials, event=event, budget_s=5.0)

    assert result == Enrichment(
        creator_email=None, oncall_emails=IN_ESCALATION_ORDER, status="complete"
    )
    pages = pagerduty.requests_to("/oncalls")
    assert [page.query_values("offset") for page in pages] == [["0"], ["2"], ["4"]]
    assert all(page.query_values("limit") == ["100"] for page in pages)


async def test_no_more_pages_than_the_cap_are_asked_for(
    client: PagerDutyClient, credentials: ApiCredentials, pagerduty: FakePagerDuty
) -> None:
    many = [OnCall(f"PU{n:02d}", 1 + n % 3) for n in range(MAX_ONCALL_PAGES * PAGE_SIZE + 3)]
    for entry in many:
        pagerduty.set_user(entry.user_id, email=f"{entry.user_id.lower()}@example.com")
    pagerduty.set_oncalls(ESCALATION_POLICY_ID, many)

    entries = await client.oncalls(credentials, ESCALATION_POLICY_ID)

    assert len(pagerduty.requests_to("/oncalls")) == MAX_ONCALL_PAGES
    assert len(entries) == MAX_ONCALL_PAGES * PAGE_SIZE
    emails = oncall_emails(entries)
    assert [email[:4] for email in emails[:2]] == ["pu00", "pu03"], "level 1 still comes first"


async def test_a_failing_later_page_fails_the_whole_lookup() -> None:
    # A partial list could leave out the people of the lowest level; better no list than that.
    asked: list[str] = []

    def pagerduty(request: httpx.Request) -> httpx.Response:
        offset = request.url.params.get("offset", "0")
        asked.append(offset)
        if offset != "0":
            return httpx.Response(500, json={"error": {"message": "boom", "code": 2000}})
        first = {"escalation_level": 1, "user": {"email": "first@example.com"}}
        return httpx.Response(200, json={"oncalls": [first], "offset": 0, "more": True})

    async with httpx.AsyncClient(transport=httpx.MockTransport(pagerduty)) as http:
        client = PagerDutyClient(http, allowed_hosts={"api.pagerduty.com"})
        with pytest.raises(PagerDutyUnavailable, match="500"):
            await client.oncalls(
                ApiCredentials(base_url="https://api.pagerduty.com", token="t"), "PEP1"
            )

    assert asked == ["0", "1"]


async def test_a_page_claiming_more_but_empty_ends_the_walk() -> None:
    def pagerduty(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"oncalls": [], "offset": 0, "more": True})

    async with httpx.AsyncClient(transport=httpx.MockTransport(pagerduty)) as http:
        client = PagerDutyClient(http, allowed_hosts={"api.pagerduty.com"})
        entries = await client.oncalls(
            ApiCredentials(base_url="https://api.pagerduty.com", token="t"), "PEP1"
        )

    assert entries == ()
