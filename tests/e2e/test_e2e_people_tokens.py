"""People in the web UI: identity's backend calls incidents with auth-issued tokens for them, and
the end of their session (logout, deactivation) refuses those tokens in every service."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
import uuid
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from support.credentials import admin_session
from support.sse import SseStream, open_stream
from support.stack import Stack

pytestmark = pytest.mark.e2e

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT = re.compile(r"eyJ[\w-]*\.[\w-]+\.[\w-]+")
# The deny list's bound, the same a revoked key's tokens are held to (test_e2e_api_keys).
REVOCATION_BOUND_S = 10.0


def _origin(stack: Stack) -> dict[str, str]:
    # What a browser sends with the UI's own state-changing requests.
    return {"Origin": stack.url("identity")}


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def test_the_ui_backend_acts_on_incidents_as_the_logged_in_person(stack: Stack) -> None:
    browser = admin_session(stack)
    me = browser.get("/v1/me").json()

    listed = browser.get("/bff/v1/incidents", params={"limit": 5})
    assert listed.status_code == 200, listed.text
    assert "items" in listed.json()

    created = browser.post(
        "/bff/v1/incidents", json={"title": "Checkout is down"}, headers=_origin(stack)
    )
    assert created.status_code == 201, created.text
    incident = created.json()
    noted = browser.post(
        f"/bff/v1/incidents/{incident['id']}/timeline",
        json={"text": "Rolling back the deploy"},
        headers=_origin(stack),
    )
    assert noted.status_code == 201, noted.text

    timeline = browser.get(f"/bff/v1/incidents/{incident['id']}/timeline").json()["items"]
    note = next(e for e in timeline if e["kind"] == "note")
    # The person, not an API key, is who wrote it.
    assert note["actor"]["kind"] == "user"
    assert note["actor"]["id"] == me["id"]
    # The browser never sees a token: only the cookie it already had.
    for response in (listed, created, noted):
        # A JWT is three base64url parts joined by dots (a page cursor is base64 JSON too).
        assert not JWT.search(response.text), response.text
        assert "set-cookie" not in response.headers


def test_the_list_filters_by_severity_and_title_and_counts_by_status(stack: Stack) -> None:
    browser = admin_session(stack)
    tag = uuid.uuid4().hex[:8]
    before = browser.get("/bff/v1/incidents/counts").json()
    for title, severity in [(f"Disk {tag} full", "SEV1"), (f"disk {tag} slow", "SEV4")]:
        r = browser.post(
            "/bff/v1/incidents",
            json={"title": title, "severity": severity},
            headers=_origin(stack),
        )
        assert r.status_code == 201, r.text

    def titles(**params: str) -> list[str]:
        page = browser.get("/bff/v1/incidents", params=params)
        assert page.status_code == 200, page.text
        return [i["title"] for i in page.json()["items"]]

    assert titles(q=f"DISK {tag}") == [f"disk {tag} slow", f"Disk {tag} full"]
    assert titles(q=tag, severity="SEV1") == [f"Disk {tag} full"]
    assert titles(q=f"{tag} %") == []  # plain text, not a pattern
    after = browser.get("/bff/v1/incidents/counts").json()
    assert after["triggered"] == before["triggered"] + 2
    assert (after["acknowledged"], after["resolved"]) == (
        before["acknowledged"],
        before["resolved"],
    )


def test_the_ui_backend_refuses_what_it_must_and_passes_the_apis_problems(stack: Stack) -> None:
    browser = admin_session(stack)
    before = browser.get("/bff/v1/incidents", params={"limit": 100}).json()["items"]

    # The API's own validation answer reaches the page unchanged, and nothing was created.
    bad = browser.post("/bff/v1/incidents", json={"title": " "}, headers=_origin(stack))
    assert _problem(bad, 422)["status"] == 422
    after = browser.get("/bff/v1/incidents", params={"limit": 100}).json()["items"]
    assert after == before

    anonymous = httpx.get(f"{stack.url('identity')}/bff/v1/incidents", timeout=10)
    assert _problem(anonymous, 401)["code"] == "unauthenticated"

    foreign = browser.post(
        "/bff/v1/incidents", json={"title": "csrf"}, headers={"Origin": "https://evil.example"}
    )
    assert _problem(foreign, 403)["code"] == "foreign_origin"

    # Only the incidents API is forwarded: no way out of it through the path.
    assert _problem(browser.get("/bff/v1/incidents/a.b/..%2F..%2Fhealthz"), 404)


async def _session_id(stack: Stack, cookie: str) -> uuid.UUID:
    conn = await asyncpg.connect(stack.envs["identity"]["DATABASE_URL"])
    try:
        digest = hashlib.sha256(cookie.encode()).hexdigest()
        session_id = await conn.fetchval("SELECT id FROM sessions WHERE token_digest = $1", digest)
    finally:
        await conn.close()
    assert isinstance(session_id, uuid.UUID)
    return session_id


def _persons_token(stack: Stack, browser: httpx.Client, role: str) -> str:
    """The token identity's backend holds for this browser's session, obtained the way it does
    (the browser itself is never given one)."""
    me = browser.get("/v1/me").json()
    cookie = next(iter(browser.cookies.values()))
    session_id = asyncio.run(_session_id(stack, cookie))
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": "fireline-ui",
            "aud": stack.envs["auth"]["FIRELINE_TOKEN_ISSUER"],
            "sub": me["id"],
            "org_id": me["org_id"],
            "sid": str(session_id),
            "role": role,
            "iat": now,
            "exp": now + 60,
            "jti": str(uuid.uuid4()),
        },
        stack.envs["identity"]["FIRELINE_UI_CLIENT_SECRET"],
        algorithm="HS256",
    )
    r = httpx.post(
        f"{stack.url('auth')}/oauth/token",
        data={"grant_type": JWT_BEARER, "assertion": assertion},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def _refused_everywhere_within_bound(stack: Stack, token: str, urls: list[str]) -> float:
    started = time.monotonic()
    pending = list(urls)
    while pending:
        assert time.monotonic() - started < REVOCATION_BOUND_S, f"still accepted: {pending}"
        for url in list(pending):
            r = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
            if r.status_code == 401:
                assert 'error_description="session ended"' in r.headers["www-authenticate"]
                pending.remove(url)
            else:
                assert r.status_code == 200, r.text
        time.sleep(0.05)
    return time.monotonic() - started


def test_logging_out_refuses_the_sessions_tokens_in_every_service(stack: Stack) -> None:
    browser = admin_session(stack)
    token = _persons_token(stack, browser, "admin")
    urls = [
        f"{stack.url('incidents')}/v1/incidents",
        f"{stack.url('pagerduty-ingest')}/v1/integrations/pagerduty",
    ]
    for url in urls:
        ok = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert ok.status_code == 200, ok.text
    other_session = admin_session(stack)
    other_token = _persons_token(stack, other_session, "admin")

    assert browser.delete("/v1/session", headers=_origin(stack)).status_code == 204

    took = _refused_everywhere_within_bound(stack, token, urls)
    print(f"logout reached incidents and pagerduty-ingest after {took * 1000:.0f} ms")
    # The same person's other session keeps working.
    still = httpx.get(urls[0], headers={"Authorization": f"Bearer {other_token}"}, timeout=10)
    assert still.status_code == 200, still.text
    assert other_session.get("/bff/v1/incidents").status_code == 200


def test_deactivating_a_user_refuses_their_tokens_in_every_service(stack: Stack) -> None:
    admin = admin_session(stack)
    email = f"member-{uuid.uuid4().hex[:8]}@example.com"
    password = secrets.token_urlsafe(16)
    created = admin.post(
        "/v1/users",
        json={"email": email, "name": "Member", "role": "member", "password": password},
        headers=_origin(stack),
    )
    assert created.status_code == 201, created.text
    member = httpx.Client(base_url=stack.url("identity"), timeout=10)
    assert member.post("/v1/session", json={"email": email, "password": password}).is_success
    assert member.get("/bff/v1/incidents").status_code == 200
    token = _persons_token(stack, member, "member")

    deactivated = admin.patch(
        f"/v1/users/{created.json()['id']}", json={"active": False}, headers=_origin(stack)
    )
    assert deactivated.status_code == 200, deactivated.text

    _refused_everywhere_within_bound(stack, token, [f"{stack.url('incidents')}/v1/incidents"])
    assert _problem(member.get("/bff/v1/incidents"), 401)["code"] == "unauthenticated"


def test_the_ui_backend_streams_live_changes_until_the_session_ends(stack: Stack) -> None:
    login = admin_session(stack)
    cookies = dict(login.cookies)

    async def scenario() -> tuple[SseStream, str]:
        async with (
            httpx.AsyncClient(base_url=stack.url("identity"), cookies=cookies, timeout=30) as ui,
            open_stream(ui, "/bff/v1/incident-events") as stream,
        ):
            assert stream.status == 200
            await stream.wait(lambda events: any(e.event == "ready" for e in events))
            created = await ui.post(
                "/bff/v1/incidents", json={"title": "Live in the UI"}, headers=_origin(stack)
            )
            assert created.status_code == 201, created.text
            incident_id: str = created.json()["id"]
            await stream.wait(lambda events: any(e.incident_id == incident_id for e in events))

            assert (await ui.delete("/v1/session", headers=_origin(stack))).status_code == 204
            # The stream's token is refused like any other once the session ended: it closes.
            await stream.wait(lambda _: stream.ended, timeout=REVOCATION_BOUND_S + 10)
            return stream, incident_id

    stream, incident_id = asyncio.run(scenario())

    started = stream.of_type("IncidentStarted")
    assert [e.incident_id for e in started] == [incident_id]
    anonymous = httpx.get(f"{stack.url('identity')}/bff/v1/incident-events", timeout=10)
    assert _problem(anonymous, 401)["code"] == "unauthenticated"
