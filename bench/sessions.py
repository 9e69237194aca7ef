"""Scenario 12: how fast a logout refuses the person's tokens (identity → Kafka → every service).

Each trial logs the admin in afresh, gets the access token identity's backend would hold for that
session (the same RFC 7523 grant at auth, with the stack's UI client secret), checks incidents
takes it, then logs out and polls incidents and pagerduty-ingest until both answer 401. Timed
like scenario 5, from just before the logout request is sent.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
import jwt

from bench.context import Context
from bench.keys import PROBE_TIMEOUT_S, Poll, failures_line, poll_until, propagation
from bench.report import Outcome

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_TRIALS = 20
"""Each trial is a login (a password hash on purpose slow): fewer trials than scenario 5."""


def _status(client: httpx.AsyncClient, url: str, token: str) -> Callable[[], Awaitable[int]]:
    async def probe() -> int:
        r = await client.get(url, headers={"Authorization": f"Bearer {token}"})
        return r.status_code

    return probe


async def logout_refuses_tokens(ctx: Context) -> Outcome:
    outcome = Outcome.of(12)
    env = ctx.target.auth_env
    if env is None or not env.get("FIRELINE_UI_CLIENT_SECRET"):
        outcome.figures = {"skipped": "needs a stack the bench started (the UI client secret)"}
        outcome.show("skipped", "running stack: its UI client secret is not the bench's")
        return outcome
    incidents, ingest, failures = [], [], []
    async with httpx.AsyncClient(timeout=30) as client:
        for trial in range(min(ctx.options.trials, MAX_TRIALS)):
            try:
                a, b = await _trial(ctx, client, env)
            except (RuntimeError, TimeoutError, OSError, KeyError) as exc:
                failures.append(f"trial {trial}: {exc!r}")
                continue
            incidents.append(a)
            ingest.append(b)
    propagation(outcome, "incidents_refused", "logout -> token 401 (incidents)", incidents)
    propagation(outcome, "ingest_refused", "logout -> token 401 (ingest)", ingest)
    failures_line(outcome, failures)
    return outcome


async def _trial(ctx: Context, client: httpx.AsyncClient, env: dict[str, str]) -> tuple[Poll, Poll]:
    target = ctx.target
    since = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=target.identity_url, timeout=30) as browser:
        r = await browser.post(
            "/v1/session", json={"email": target.admin_email, "password": target.admin_password}
        )
        if r.status_code != 200:
            raise RuntimeError(f"login answered {r.status_code}")
        me = (await browser.get("/v1/me")).json()
        session_id = await _session_since(ctx, since)
        token = await _persons_token(client, env, me, session_id)
        read = _status(client, f"{target.incidents_url}/v1/incidents?limit=1", token)
        if (status := await read()) != 200:
            raise RuntimeError(f"the person's token read incidents with {status}, not 200")
        integrations = f"{target.ingest_url}/v1/integrations/pagerduty"
        started = time.perf_counter()
        logout = asyncio.create_task(browser.delete("/v1/session"))
        polls = await asyncio.gather(
            poll_until(read, 401, started),
            poll_until(_status(client, integrations, token), 401, started),
        )
        await logout
    return polls[0], polls[1]


async def _session_since(ctx: Context, since: datetime) -> str:
    """The id of the session this trial opened, from the audit log (it gets there via Kafka);
    logins before the trial (the bench's own admin session) are not it."""
    params = {"action": "login.succeeded", "since": since.isoformat(), "limit": "10"}
    deadline = time.monotonic() + PROBE_TIMEOUT_S
    while time.monotonic() < deadline:
        r = await ctx.api.identity.get("/v1/audit-events", params=params)
        r.raise_for_status()
        found = [str(e["details"]["session_id"]) for e in r.json()["items"]]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise RuntimeError(f"{len(found)} logins during one trial")
        await asyncio.sleep(0.05)
    raise TimeoutError("the login never reached the audit log")


async def _persons_token(
    client: httpx.AsyncClient, env: dict[str, str], me: dict[str, str], session_id: str
) -> str:
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": env.get("FIRELINE_UI_CLIENT_ID", "fireline-ui"),
            "aud": env["FIRELINE_TOKEN_ISSUER"],
            "sub": me["id"],
            "org_id": me["org_id"],
            "sid": session_id,
            "role": me["role"],
            "iat": now,
            "exp": now + 60,
            "jti": str(uuid.uuid4()),
        },
        env["FIRELINE_UI_CLIENT_SECRET"],
        algorithm="HS256",
    )
    r = await client.post(
        f"{env['FIRELINE_TOKEN_ISSUER'].rstrip('/')}/oauth/token",
        data={"grant_type": JWT_BEARER, "assertion": assertion},
    )
    if r.status_code != 200:
        raise RuntimeError(f"auth refused the person assertion: {r.status_code}")
    return str(r.json()["access_token"])
