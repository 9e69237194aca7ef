"""The fake PagerDuty REST API behaves like PagerDuty in every mode enrichment must survive."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from support.fake_pagerduty import PAGERDUTY_ACCEPT, FakePagerDuty, OnCall
from support.pagerduty_fixtures import (
    ESCALATION_POLICY_ID,
    ON_CALL_USER_ID,
    ONCALLS,
    TRIGGERING_USER_ID,
    USERS,
)

TOKEN = "pd-test-token"
HEADERS = {"Authorization": f"Token token={TOKEN}", "Accept": PAGERDUTY_ACCEPT}


@pytest.fixture
def pd() -> Iterator[FakePagerDuty]:
    with FakePagerDuty(token=TOKEN, users=USERS, oncalls=ONCALLS) as fake:
        yield fake


@pytest.fixture
def client(pd: FakePagerDuty) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pd.url, headers=HEADERS, timeout=5.0) as http:
        yield http


def test_it_listens_on_loopback(pd: FakePagerDuty) -> None:
    assert pd.url.startswith("http://127.0.0.1:")


def test_a_user_lookup_returns_the_configured_email(
    pd: FakePagerDuty, client: httpx.Client
) -> None:
    response = client.get(f"/users/{TRIGGERING_USER_ID}")

    assert response.status_code == 200
    user = response.json()["user"]
    assert user["id"] == TRIGGERING_USER_ID
    assert user["type"] == "user"
    assert user["email"] == USERS[TRIGGERING_USER_ID]["email"]
    assert user["name"] == USERS[TRIGGERING_USER_ID]["name"]
    assert response.headers["ratelimit-limit"] == "960"


def test_an_unknown_user_is_a_404_with_pagerdutys_error_body(client: httpx.Client) -> None:
    response = client.get("/users/PNOBODY")

    assert response.status_code == 404
    assert response.json() == {"error": {"message": "Not Found", "code": 2100}}


def test_a_removed_user_is_no_longer_found(pd: FakePagerDuty, client: httpx.Client) -> None:
    pd.remove_user(TRIGGERING_USER_ID)

    assert client.get(f"/users/{TRIGGERING_USER_ID}").status_code == 404


def test_oncalls_with_include_users_carry_full_users_with_emails_in_configured_order(
    pd: FakePagerDuty, client: httpx.Client
) -> None:
    pd.set_oncalls(
        ESCALATION_POLICY_ID,
        [OnCall(ON_CALL_USER_ID, 1), OnCall(TRIGGERING_USER_ID, 2)],
    )

    response = client.get(
        "/oncalls",
        params={"escalation_policy_ids[]": ESCALATION_POLICY_ID, "include[]": "users"},
    )

    assert response.status_code == 200
    oncalls = response.json()["oncalls"]
    assert [(entry["escalation_level"], entry["user"]["email"]) for entry in oncalls] == [
        (1, USERS[ON_CALL_USER_ID]["email"]),
        (2, USERS[TRIGGERING_USER_ID]["email"]),
    ]
    assert all(entry["escalation_policy"]["id"] == ESCALATION_POLICY_ID for entry in oncalls)


def test_oncalls_without_include_users_carry_references_without_emails(
    client: httpx.Client,
) -> None:
    response = client.get("/oncalls", params={"escalation_policy_ids[]": ESCALATION_POLICY_ID})

    users = [entry["user"] for entry in response.json()["oncalls"]]
    assert [user["id"] for user in users] == [ON_CALL_USER_ID]
    assert users[0]["type"] == "user_reference"
    assert "email" not in users[0]


def test_oncalls_are_filtered_by_escalation_policy(pd: FakePagerDuty, client: httpx.Client) -> None:
    pd.set_oncalls("POTHER1", [TRIGGERING_USER_ID])

    response = client.get(
        "/oncalls", params={"escalation_policy_ids[]": "POTHER1", "include[]": "users"}
    )

    assert [entry["user"]["id"] for entry in response.json()["oncalls"]] == [TRIGGERING_USER_ID]
    empty = client.get("/oncalls", params={"escalation_policy_ids[]": "PNOPOLICY"})
    assert empty.json()["oncalls"] == []


@pytest.mark.parametrize(
    "authorization",
    [None, "Token token=wrong", f"Bearer {TOKEN}", f"token={TOKEN}", f"Token token={TOKEN}x"],
)
def test_requests_without_the_right_token_are_401(
    pd: FakePagerDuty, authorization: str | None
) -> None:
    headers = {"Accept": PAGERDUTY_ACCEPT}
    if authorization is not None:
        headers["Authorization"] = authorization

    response = httpx.get(f"{pd.url}/users/{TRIGGERING_USER_ID}", headers=headers, timeout=5.0)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == 2006


def test_requests_without_the_v2_accept_header_are_refused(pd: FakePagerDuty) -> None:
    response = httpx.get(
        f"{pd.url}/users/{TRIGGERING_USER_ID}",
        headers={"Authorization": f"Token token={TOKEN}", "Accept": "application/json"},
        timeout=5.0,
    )

    assert response.status_code == 406


def test_slow_mode_outlasts_a_client_timeout_and_normal_mode_recovers(
    pd: FakePagerDuty, client: httpx.Client
) -> None:
    pd.set_mode("slow", delay=5)

    with pytest.raises(httpx.TimeoutException):
        client.get(f"/users/{TRIGGERING_USER_ID}", timeout=0.2)

    pd.mode = "normal"
    assert client.get(f"/users/{TRIGGERING_USER_ID}").status_code == 200


def test_slow_mode_still_answers_a_patient_client(pd: FakePagerDuty, client: httpx.Client) -> None:
    pd.set_mode("slow", delay=0.3)
    started = time.monotonic()

    response = client.get(f"/users/{TRIGGERING_USER_ID}")

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_slow_mode_defaults_to_three_seconds() -> None:
    assert FakePagerDuty().slow_delay == 3.0


def test_error_mode_answers_500(pd: FakePagerDuty, client: httpx.Client) -> None:
    pd.set_mode("error")

    response = client.get(f"/users/{TRIGGERING_USER_ID}")

    assert response.status_code == 500
    assert response.json()["error"]["code"] == 2000


def test_ratelimited_mode_answers_429_with_ratelimit_reset(
    pd: FakePagerDuty, client: httpx.Client
) -> None:
    pd.set_mode("ratelimited", reset_seconds=17)

    response = client.get("/oncalls", params={"escalation_policy_ids[]": ESCALATION_POLICY_ID})

    assert response.status_code == 429
    assert response.headers["ratelimit-reset"] == "17"
    assert response.headers["ratelimit-remaining"] == "0"
    assert response.json() == {"error": {"message": "Rate Limit Exceeded", "code": 2020}}


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        FakePagerDuty().set_mode("flaky")  # type: ignore[arg-type]


def test_requests_are_recorded_with_path_query_and_headers(
    pd: FakePagerDuty, client: httpx.Client
) -> None:
    client.get(
        "/oncalls",
        params=[("escalation_policy_ids[]", ESCALATION_POLICY_ID), ("include[]", "users")],
    )

    [request] = pd.requests_to("/oncalls")
    assert request.method == "GET"
    assert request.query_values("escalation_policy_ids[]") == [ESCALATION_POLICY_ID]
    assert request.query_values("include[]") == ["users"]
    assert request.headers["authorization"] == f"Token token={TOKEN}"
    assert request.headers["accept"] == PAGERDUTY_ACCEPT
    pd.clear_requests()
    assert pd.requests == []


def test_stopping_does_not_wait_for_a_sleeping_request(pd: FakePagerDuty) -> None:
    pd.set_mode("slow", delay=30)
    with pytest.raises(httpx.TimeoutException):
        httpx.get(f"{pd.url}/users/{TRIGGERING_USER_ID}", headers=HEADERS, timeout=0.2)
    started = time.monotonic()

    pd.stop()

    assert time.monotonic() - started < 5
    with pytest.raises(RuntimeError, match="not running"):
        _ = pd.url


def test_it_cannot_be_started_twice(pd: FakePagerDuty) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        pd.start()


async def test_it_serves_async_tests_too() -> None:
    async with (
        FakePagerDuty(token=TOKEN, users=USERS, oncalls=ONCALLS) as fake,
        httpx.AsyncClient(base_url=fake.url, headers=HEADERS, timeout=5.0) as http,
    ):
        response = await http.get(
            "/oncalls",
            params={"escalation_policy_ids[]": ESCALATION_POLICY_ID, "include[]": "users"},
        )
        # Far past the client's timeout, so a loaded machine that wakes the test's event loop
        # late still finds the timer expired before any answer; stopping does not wait for it.
        fake.set_mode("slow", delay=30)
        with pytest.raises(httpx.TimeoutException):
            await http.get(f"/users/{ON_CALL_USER_ID}", timeout=0.2)

    assert response.status_code == 200
    assert response.json()["oncalls"][0]["user"]["email"] == USERS[ON_CALL_USER_ID]["email"]


def test_oncalls_paginate_like_pagerduty_when_a_page_size_is_set() -> None:
    rotation = [OnCall(ON_CALL_USER_ID, 1), OnCall(TRIGGERING_USER_ID, 2), OnCall("PNOUSER", 3)]
    with FakePagerDuty(
        token=TOKEN, users=USERS, oncalls={ESCALATION_POLICY_ID: rotation}, page_size=2
    ) as fake:
        pages = [
            httpx.get(
                f"{fake.url}/oncalls",
                params={"escalation_policy_ids[]": ESCALATION_POLICY_ID, "offset": offset},
                headers=HEADERS,
                timeout=5.0,
            ).json()
            for offset in (0, 2)
        ]
        refused = httpx.get(
            f"{fake.url}/oncalls", params={"offset": "x"}, headers=HEADERS, timeout=5.0
        )

    assert [[e["user"]["id"] for e in page["oncalls"]] for page in pages] == [
        [ON_CALL_USER_ID, TRIGGERING_USER_ID],
        ["PNOUSER"],
    ]
    assert [(page["offset"], page["limit"], page["more"]) for page in pages] == [
        (0, 2, True),
        (2, 2, False),
    ]
    assert refused.status_code == 400


def test_without_a_page_size_every_oncall_comes_on_one_page(client: httpx.Client) -> None:
    body = client.get("/oncalls", params={"limit": 1, "offset": 5}).json()

    assert len(body["oncalls"]) == len(ONCALLS[ESCALATION_POLICY_ID])
    assert body["more"] is False
