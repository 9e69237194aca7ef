"""``make bench``: throughput and latency of the running system, measured with wrk.

Starts the four services as processes (fresh databases, embedded broker), provisions an API key
and a PagerDuty integration through the public APIs, then measures in one run:

* wrk: GET /healthz (the HTTP floor), POST /oauth/token (token exchange),
  GET /v1/incidents (an authenticated read), POST /webhooks/pagerduty/{id} (webhook acceptance);
* webhook → incident latency (p50/p99): time from sending a webhook to the incident being listed;
* revocation delay (p50/p99): time from DELETE /v1/api-keys/{id} to incidents refusing its token.

Results go to ``bench-results/<time>.json`` and a table on stdout; ratios are within this run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fireline_runtime.infra import find_postgres  # noqa: E402
from support import infra, pagerduty_fixtures  # noqa: E402
from support.stack import Stack, drop_stack_databases, start_stack  # noqa: E402

HERE = Path(__file__).resolve().parent


def wrk(
    url: str, script: str, env: dict[str, str], seconds: int, connections: int
) -> dict[str, Any]:
    binary = shutil.which("wrk")
    if binary is None:
        raise SystemExit("wrk is not installed (Debian package `wrk`)")
    out = subprocess.run(  # noqa: S603
        [
            binary,
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(HERE / script),
            url,
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "requests_per_s": rps,
        "p50": lat.get("50"),
        "p99": lat.get("99"),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def provision(stack: Stack) -> dict[str, Any]:
    identity = httpx.AsyncClient(base_url=stack.url("identity"), timeout=10)
    r = await identity.post(
        "/v1/session", json={"email": stack.admin_email, "password": stack.admin_password}
    )
    r.raise_for_status()
    key = (await identity.post("/v1/api-keys", json={"name": "bench"})).raise_for_status().json()
    token = await exchange(stack, key)
    ingest = httpx.AsyncClient(
        base_url=stack.url("pagerduty-ingest"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    secret = "bench-signing-secret-" + uuid.uuid4().hex
    integ = await ingest.post(
        "/v1/integrations/pagerduty", json={"name": "bench", "signing_secrets": [secret]}
    )
    integ.raise_for_status()
    await ingest.aclose()
    return {
        "identity": identity,
        "key": key,
        "token": token,
        "integration": integ.json(),
        "secret": secret,
    }


async def exchange(stack: Stack, key: dict[str, Any]) -> str:
    """Exchange a key, waiting for it to reach auth's projection (identity → Kafka → auth)."""
    deadline = time.monotonic() + 20
    async with httpx.AsyncClient(timeout=10) as client:
        while True:
            r = await client.post(
                f"{stack.url('auth')}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(key["id"], key["key"]),
            )
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            # Polling too eagerly would trip auth's failed-authentication limit (429).
            await asyncio.sleep(float(r.headers.get("retry-after", 0.25)))
        r.raise_for_status()
        return str(r.json()["access_token"])


async def webhook_latency(stack: Stack, ctx: dict[str, Any], samples: int) -> list[float]:
    hook = ctx["integration"]["webhook_url"]
    lat: list[float] = []
    async with httpx.AsyncClient(timeout=10) as client:
        headers_auth = {"Authorization": f"Bearer {ctx['token']}"}
        for _ in range(samples):
            incident_id = pagerduty_fixtures.new_incident_id()
            body = pagerduty_fixtures.delivery(
                "incident_triggered_agent_null", incident_id=incident_id
            )
            started = time.perf_counter()
            r = await client.post(
                hook, content=body, headers=pagerduty_fixtures.signed(body, [ctx["secret"]])
            )
            assert r.status_code == 202, r.text
            while True:
                found = await client.get(
                    f"{stack.url('incidents')}/v1/incidents",
                    params={"external_id": incident_id},
                    headers=headers_auth,
                )
                if found.status_code == 200 and found.json()["items"]:
                    break
                if time.perf_counter() - started > 30:
                    raise TimeoutError("incident did not appear within 30 s")
                await asyncio.sleep(0.005)
            lat.append(time.perf_counter() - started)
    return lat


async def revocation_delay(stack: Stack, ctx: dict[str, Any], samples: int) -> list[float]:
    identity: httpx.AsyncClient = ctx["identity"]
    delays: list[float] = []
    async with httpx.AsyncClient(timeout=10) as client:
        for i in range(samples):
            key = (await identity.post("/v1/api-keys", json={"name": f"revoke-{i}"})).json()
            token = await exchange(stack, key)
            url = f"{stack.url('incidents')}/v1/incidents"
            auth = {"Authorization": f"Bearer {token}"}
            assert (await client.get(url, headers=auth)).status_code == 200
            started = time.perf_counter()
            (await identity.delete(f"/v1/api-keys/{key['id']}")).raise_for_status()
            while (await client.get(url, headers=auth)).status_code != 401:
                if time.perf_counter() - started > 30:
                    raise TimeoutError("revoked token still accepted after 30 s")
                await asyncio.sleep(0.005)
            delays.append(time.perf_counter() - started)
    return delays


async def run(args: argparse.Namespace) -> dict[str, Any]:
    infra.STATE.mkdir(parents=True, exist_ok=True)
    postgres = await find_postgres(infra.STATE)
    broker = infra.start_tansu()
    stack = await start_stack(postgres, broker)
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "wrk": {}}
    try:
        ctx = await provision(stack)
        # Latency first, on a quiet system: after the wrk runs a backlog of accepted webhooks
        # would still be draining.
        lat = await webhook_latency(stack, ctx, args.samples)
        results["webhook_to_incident_ms"] = {
            "p50": round(pct(lat, 0.5) * 1000, 1),
            "p99": round(pct(lat, 0.99) * 1000, 1),
            "mean": round(statistics.fmean(lat) * 1000, 1),
            "samples": len(lat),
        }
        rev = await revocation_delay(stack, ctx, max(5, args.samples // 5))
        results["revocation_delay_ms"] = {
            "p50": round(pct(rev, 0.5) * 1000, 1),
            "p99": round(pct(rev, 0.99) * 1000, 1),
            "samples": len(rev),
        }
        d, c = args.seconds, args.connections
        results["wrk"]["healthz"] = wrk(f"{stack.url('incidents')}/healthz", "get.lua", {}, d, c)
        form = "grant_type=client_credentials"
        basic = base64.b64encode(f"{ctx['key']['id']}:{ctx['key']['key']}".encode()).decode()
        results["wrk"]["token_exchange"] = wrk(
            f"{stack.url('auth')}/oauth/token",
            "post.lua",
            {
                "BENCH_BODY": form,
                "BENCH_HEADERS": "Content-Type: application/x-www-form-urlencoded\n"
                f"Authorization: Basic {basic}",
            },
            d,
            c,
        )
        results["wrk"]["list_incidents"] = wrk(
            f"{stack.url('incidents')}/v1/incidents",
            "get.lua",
            {"BENCH_AUTH": f"Bearer {ctx['token']}"},
            d,
            c,
        )
        body = pagerduty_fixtures.delivery("incident_triggered_agent_null")
        results["wrk"]["webhook_accept"] = wrk(
            ctx["integration"]["webhook_url"],
            "webhook.lua",
            {
                "BENCH_BODY": body.decode(),
                "BENCH_SIGNATURE": pagerduty_fixtures.signed(body, [ctx["secret"]])[
                    "X-PagerDuty-Signature"
                ],
            },
            d,
            c,
        )
        base = results["wrk"]["healthz"]["requests_per_s"]
        for row in results["wrk"].values():
            row["ratio_to_healthz"] = round(row["requests_per_s"] / base, 3)
        await ctx["identity"].aclose()
    finally:
        stack.stop()
        await drop_stack_databases(stack)
        broker.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="Fireline benchmarks (wrk + latency probes)")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per scenario")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--samples", type=int, default=100, help="latency samples")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    path = out / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\n{'scenario':<16} {'req/s':>9} {'p50':>9} {'p99':>9} {'non-2xx':>8} {'x healthz':>9}")
    for name, row in results["wrk"].items():
        print(
            f"{name:<16} {row['requests_per_s']:>9.0f} {row['p50']!s:>9} {row['p99']!s:>9} "
            f"{row['non_2xx']:>8} {row['ratio_to_healthz']:>9}"
        )
    w, r = results["webhook_to_incident_ms"], results["revocation_delay_ms"]
    print(f"\nwebhook -> incident: p50 {w['p50']} ms, p99 {w['p99']} ms ({w['samples']} samples)")
    print(f"revocation delay:    p50 {r['p50']} ms, p99 {r['p99']} ms ({r['samples']} samples)")
    print(f"\nwritten to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
