"""Scenario 7: token-exchange throughput for each signing algorithm, as ratios to the ceiling.

The same wrk run as scenario 2, once per algorithm. Between runs auth's CLI rotates the signing
key at once (``fireline-auth rotate-keys --immediate``) to a key of the next algorithm, with auth's
own environment and ``FIRELINE_TOKEN_SIGNING_ALG`` set; the running service picks it up on its next
key refresh, and leaves it alone (a key chosen after the service read its setting). The
configured algorithm's key is put back at the end. An immediate rotation withdraws every earlier
key, so this needs a stack the bench started and runs last.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time

from bench import throughput
from bench.context import Context
from bench.report import Outcome, ms
from fireline_auth.config import Settings
from fireline_runtime.jose import Algorithm

SWITCH_TIMEOUT_S = 60.0


async def token_exchange_by_algorithm(ctx: Context) -> Outcome:
    outcome = Outcome.of(7)
    env = ctx.target.auth_env
    if env is None:
        outcome.figures = {"skipped": "needs a stack the bench started (rotates auth's keys)"}
        outcome.show("skipped", "running stack: auth's keys are not the bench's to rotate")
        return outcome
    configured = env.get(
        "FIRELINE_TOKEN_SIGNING_ALG",
        str(Settings.model_fields["token_signing_alg"].default),
    )
    results: dict[str, dict[str, object]] = {}
    try:
        for algorithm in Algorithm:
            await _sign_with(ctx, env, algorithm)
            run = await throughput.exchange_run(ctx)
            ratio = round(run.requests_per_s / ctx.ceiling_rps, 3) if ctx.ceiling_rps else None
            results[str(algorithm)] = {**run.figures(), "ratio_to_ceiling": ratio}
            shown = f"{ratio:.2f}x" if ratio is not None else "n/a (no scenario 0)"
            outcome.show(f"{algorithm} tokens/s (x ceiling)", f"{run.requests_per_s:.0f} ({shown})")
            outcome.show(f"{algorithm} p50 / p99 ms", ms(run.latency_ms, "p50", "p99"))
            outcome.check(f"{algorithm} non-2xx", str(run.non_2xx), "== 0", run.non_2xx == 0)
    finally:
        await _sign_with(ctx, env, Algorithm(configured))
        ctx.api.forget_token()
    outcome.figures = {
        "request": "POST /oauth/token (client_credentials), one wrk run per algorithm",
        "configured_algorithm": configured,
        "by_algorithm": results,
    }
    return outcome


async def _sign_with(ctx: Context, env: dict[str, str], algorithm: Algorithm) -> None:
    """Rotate auth to a key of ``algorithm`` at once; return when its tokens carry it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fireline_auth.entrypoints.cli",
        "rotate-keys",
        "--immediate",
        env={**os.environ, **env, "FIRELINE_TOKEN_SIGNING_ALG": str(algorithm)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"rotate-keys failed ({proc.returncode}): {err.decode()[-2000:]}")
    kid = json.loads(out)["kid"]
    deadline = time.monotonic() + SWITCH_TIMEOUT_S
    while time.monotonic() < deadline:
        header = _header(await ctx.api.token(ctx.key))
        if header.get("kid") == kid and header.get("alg") == str(algorithm):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"auth did not sign with the new {algorithm} key within {SWITCH_TIMEOUT_S}s")


def _header(token: str) -> dict[str, object]:
    encoded = token.split(".")[0]
    header: dict[str, object] = json.loads(base64.urlsafe_b64decode(encoded + "=="))
    return header
