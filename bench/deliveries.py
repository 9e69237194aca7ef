"""Distinct, pre-signed PagerDuty V3 deliveries: one new PagerDuty incident each."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from support import pagerduty_fixtures

FIXTURE = "incident_triggered_agent_null"
"""No agent, so no user lookup: the delivery goes straight from alert to incident."""


@dataclass(frozen=True)
class Delivery:
    pagerduty_incident_id: str
    webhook_id: str
    correlation_id: str
    """Echoed by the services: how ``deliveries.lua`` tells which delivery an answer is for."""
    body: bytes
    headers: dict[str, str]


def make(count: int, secret: str) -> list[Delivery]:
    """``count`` deliveries with distinct PagerDuty incident ids and distinct X-Webhook-Ids."""
    run = uuid.uuid4().hex[:8]
    made: list[Delivery] = []
    seen: set[str] = set()
    while len(made) < count:
        incident_id = pagerduty_fixtures.new_incident_id()
        if incident_id in seen:  # 52 random bits: a repeat is unlikely, but would be a dedupe
            continue
        seen.add(incident_id)
        body = pagerduty_fixtures.delivery(FIXTURE, incident_id=incident_id)
        webhook_id = f"bench-{run}-{len(made)}"
        correlation_id = f"bench-{run}-{len(made)}"
        headers = pagerduty_fixtures.signed(body, [secret], webhook_id=webhook_id)
        headers["X-Correlation-ID"] = correlation_id
        made.append(Delivery(incident_id, webhook_id, correlation_id, body, headers))
    return made


def write_for_wrk(deliveries: Iterable[Delivery], path: Path) -> None:
    """One line each, ``webhook id \\t correlation id \\t signature \\t body``, for deliveries.lua.

    ``json.dumps`` escapes every control character inside strings and puts none between tokens,
    so a body holds neither a tab nor a newline.
    """
    with path.open("w", encoding="utf-8") as out:
        for d in deliveries:
            body = d.body.decode("utf-8")
            if "\t" in body or "\n" in body:
                raise ValueError("a delivery body must fit on one line without tabs")
            signature = d.headers["X-PagerDuty-Signature"]
            out.write(f"{d.webhook_id}\t{d.correlation_id}\t{signature}\t{body}\n")
