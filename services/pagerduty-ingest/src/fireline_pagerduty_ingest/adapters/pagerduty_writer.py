"""PagerDuty REST API writes for Fireline → PagerDuty sync: an incident's status, and notes.

``PUT /incidents/{id}`` with ``{"incident": {"type": "incident_reference", "status": ...}}`` and
``POST /incidents/{id}/notes`` with ``{"note": {"content": ...}}``, each with the token, the v2
``Accept`` and the ``From`` header PagerDuty requires for writes made with an account-level token.
The base URL is checked against the host allow-list before every call, as enrichment does: this
is where the token leaves the service. Nothing here raises for a failed call; the result says
what happened, and the token never appears in it.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Collection
from typing import Any

import httpx

from fireline_pagerduty_ingest.adapters.pagerduty import ACCEPT, checked_url, reset_seconds
from fireline_pagerduty_ingest.domain.sync import CallResult

_RETRY_HEADERS = ("retry-after", "ratelimit-reset")
"""A 429's own ``Retry-After`` first; PagerDuty's ``ratelimit-reset`` when it sends only that."""


class PagerDutyWriterClient:
    def __init__(
        self, http: httpx.AsyncClient, *, allowed_hosts: Collection[str], call_timeout_s: float
    ) -> None:
        self._http = http
        self._allowed_hosts = frozenset(allowed_hosts)
        self._timeout_s = call_timeout_s

    async def set_status(
        self, *, base_url: str, token: str, from_email: str, incident_id: str, status: str
    ) -> CallResult:
        body = {"incident": {"type": "incident_reference", "status": status}}
        path = "/incidents/" + urllib.parse.quote(incident_id, safe="")
        return await self._send("PUT", base_url, path, token, from_email, body)

    async def add_note(
        self, *, base_url: str, token: str, from_email: str, incident_id: str, content: str
    ) -> CallResult:
        body = {"note": {"content": content}}
        path = "/incidents/" + urllib.parse.quote(incident_id, safe="") + "/notes"
        return await self._send("POST", base_url, path, token, from_email, body)

    async def _send(
        self,
        method: str,
        base_url: str,
        path: str,
        token: str,
        from_email: str,
        body: dict[str, Any],
    ) -> CallResult:
        url, refusal = checked_url(base_url, path, self._allowed_hosts)
        if url is None:
            # Shown on the timeline as a refusal: retrying cannot help until an admin acts.
            return CallResult(status_code=None, detail=f"not sent: {refusal}", hopeless=True)
        headers = {
            "Authorization": f"Token token={token}",
            "Accept": ACCEPT,
            "Content-Type": "application/json",
            "From": from_email,
        }
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._http.request(
                    method, url, json=body, headers=headers, timeout=self._timeout_s
                )
        except (TimeoutError, httpx.TimeoutException):
            return CallResult(status_code=None, detail="PagerDuty did not answer in time")
        except httpx.HTTPError as exc:
            return CallResult(status_code=None, detail=f"no answer: {type(exc).__name__}")
        status = response.status_code
        answer = _json(response)
        if 200 <= status < 300:
            return CallResult(status_code=status, pagerduty_user_id=_changed_by(answer))
        return CallResult(
            status_code=status,
            detail=_error_message(answer),
            retry_after_s=reset_seconds(response.headers, _RETRY_HEADERS)
            if status == 429
            else None,
        )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _changed_by(answer: Any) -> str | None:
    # PagerDuty's updated incident names who changed its status: the From user. Its webhook
    # names the same user as agent, which is how the echo is told from someone else's change.
    # A note names its author instead.
    incident = answer.get("incident") if isinstance(answer, dict) else None
    note = answer.get("note") if isinstance(answer, dict) else None
    by = None
    if isinstance(incident, dict):
        by = incident.get("last_status_change_by")
    elif isinstance(note, dict):
        by = note.get("user")
    found = by.get("id") if isinstance(by, dict) else None
    return found if isinstance(found, str) else None


def _error_message(answer: Any) -> str | None:
    error = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict):
        return None
    message = error.get("message")
    errors = error.get("errors")
    parts = [message] if isinstance(message, str) else []
    if isinstance(errors, list):
        parts += [e for e in errors if isinstance(e, str)]
    return "; ".join(parts) or None
