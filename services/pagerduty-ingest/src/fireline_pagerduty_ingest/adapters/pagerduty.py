"""PagerDuty REST API client for enrichment: user emails and on-call users.

Every call is bounded (``call_timeout_s``, at most 2 s), answers are cached with a TTL, and a 429
makes the client skip calls for that API token until PagerDuty's ``ratelimit-reset`` has passed:
hammering a rate-limited account only extends the outage, and enrichment is optional anyway.
When most of a token's recent calls get no answer (timeouts, connection failures, 5xx), its
calls are paused for :data:`UNANSWERED_PAUSE_S` as well (:class:`_Answering`).
Failures raise :class:`PagerDutyUnavailable` with a short reason that is safe to log; the token
never appears in a reason, a log line or a repr.

Before any call the integration's base URL is checked against the host allow-list again: it was
checked when it was stored, but the allow-list may have shrunk since, and this is where the token
would leave the service.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from fireline_pagerduty_ingest.adapters.cache import TtlCache
from fireline_pagerduty_ingest.domain.enrichment import (
    ApiCredentials,
    OnCallEntry,
    PagerDutyUnavailable,
)
from fireline_pagerduty_ingest.domain.integration import LOOPBACK_HOSTS, api_url_refusal

log = logging.getLogger(__name__)

ACCEPT = "application/vnd.pagerduty+json;version=2"
DEFAULT_RATE_LIMIT_WAIT_S = 60.0
"""Used when a 429 carries no usable ``ratelimit-reset``: PagerDuty's limits are per minute."""
MAX_RATE_LIMIT_WAIT_S = 3600.0
UNANSWERED_TO_PAUSE = 5
"""Unanswered calls (a timeout, a connection failure, a 5xx) among a token's :data:`RECENT_CALLS`
latest that pause its calls, when they are at least half of them."""
RECENT_CALLS = 256
"""Twice the calls of a full worker pass (64 deliveries, two lookups each): a pass's timeouts are
recorded after its answers, and the share must still see those answers."""
UNANSWERED_PAUSE_S = 30.0
"""How long those calls are paused; then one call is tried, and if it gets no answer either the
calls pause again."""
ONCALLS_PAGE_LIMIT = 100
"""Rows asked for per ``/oncalls`` page: PagerDuty's maximum ``limit``."""
MAX_ONCALL_PAGES = 5
"""Pages of ``/oncalls`` followed per policy. A policy has a handful of levels with a few people
each, so more than 500 rows means something unusual; the first pages are used and a warning logged
rather than spending the delivery's whole time budget on one lookup."""


class RateLimited(PagerDutyUnavailable):
    """PagerDuty answered 429, or an earlier 429's reset time has not passed yet."""


@dataclass
class _Answering:
    """Whether one token's PagerDuty answers lately: the pause of its calls.

    Each delivery waits for its own lookups, up to the call timeout, and the worker's pass waits
    for its slowest delivery. With PagerDuty not answering, every pass took the whole timeout,
    and a storm drained at one batch per call timeout (64 deliveries every 2 s) however fast the
    rest of the pipeline was. Paused, the lookups fail at once, and the alerts go out without
    emails (``failed``), as they would after the timeout anyway.

    A pass's calls run together and their timeouts end together, after the quick answers: so
    the rule is a share of the recent calls (:data:`RECENT_CALLS`, two passes' worth), not a
    run of failures, and hanging calls pause nothing while most calls are answered. Each
    process keeps its own.
    """

    recent: deque[bool] = field(default_factory=lambda: deque(maxlen=RECENT_CALLS))
    """The latest calls' outcomes, True when answered."""
    paused_until: float | None = None
    probing: bool = False
    """The pause is over and one call is out to see whether PagerDuty answers again."""

    def check(self, now: float, *, probe_s: float) -> None:
        """Refuse a call while paused. The first call after the pause goes out alone: the others
        are refused until it has its answer, for at most ``probe_s`` (a call's timeout)."""
        if self.paused_until is None:
            return
        if now < self.paused_until:
            raise PagerDutyUnavailable("PagerDuty has not answered lately; calls paused")
        self.paused_until = now + probe_s
        self.probing = True

    def record(self, answered: bool, now: float, host: str) -> None:
        """One call's outcome; pauses or resumes the calls."""
        if self.probing:
            if answered:
                self._resume(host)
            else:
                self._pause(now, host, reason="the call tried after the pause got no answer")
            return
        if self.paused_until is not None and now < self.paused_until:
            return  # a call sent before the pause began
        self.recent.append(answered)
        unanswered = self.recent.count(False)
        if unanswered >= UNANSWERED_TO_PAUSE and unanswered * 2 >= len(self.recent):
            self._pause(now, host, reason=f"{unanswered} of the last {len(self.recent)} calls")

    def _pause(self, now: float, host: str, *, reason: str) -> None:
        self.paused_until = now + UNANSWERED_PAUSE_S
        self.probing = False
        self.recent.clear()
        log.warning(
            "PagerDuty is not answering; enrichment calls paused",
            extra={"host": host, "unanswered": reason, "pause_s": UNANSWERED_PAUSE_S},
        )

    def _resume(self, host: str) -> None:
        self.paused_until = None
        self.probing = False
        self.recent.clear()
        log.info("PagerDuty answers again; enrichment calls resumed", extra={"host": host})


class PagerDutyClient:
    """Looks up emails in PagerDuty's REST API (v2) with timeouts, caching and rate limiting."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        allowed_hosts: Collection[str],
        call_timeout_s: float = 2.0,
        user_ttl_s: float = 600.0,
        oncall_ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_oncall_pages: int = MAX_ONCALL_PAGES,
        on_answer: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        """``allowed_hosts``: the hosts a base URL may name (see ``api_url_refusal``);
        ``on_answer`` is told each call's outcome (ok, not_found, rate_limited, http_error,
        timeout, failed)."""
        self._http = http
        self._on_answer = on_answer
        self._allowed_hosts = frozenset(allowed_hosts)
        self._max_oncall_pages = max_oncall_pages
        self._call_timeout_s = call_timeout_s
        self._clock = clock
        # None is cached too: a 404 user stays "not a user" for the TTL instead of being re-asked.
        self._users: TtlCache[tuple[str, str], str | None] = TtlCache(ttl_s=user_ttl_s, clock=clock)
        # On-call rotations change at shift boundaries, so their answers live shorter than emails.
        self._oncalls: TtlCache[tuple[str, str], tuple[OnCallEntry, ...]] = TtlCache(
            ttl_s=oncall_ttl_s, clock=clock
        )
        self._blocked_until: dict[str, float] = {}
        self._answering: dict[str, _Answering] = {}

    async def user_email(self, credentials: ApiCredentials, user_id: str) -> str | None:
        """The user's email, or None when PagerDuty has no such user (or no email for it)."""
        key = (credentials.fingerprint, user_id)
        hit, cached = self._users.get(key)
        if hit:
            return cached
        path = "/users/" + urllib.parse.quote(user_id, safe="")
        body = await self._get(credentials, path, (), not_found_ok=True)
        email = None
        if body is not None:
            user = body.get("user")
            email = _email(user.get("email")) if isinstance(user, dict) else None
        self._users.put(key, email)
        return email

    async def oncalls(
        self, credentials: ApiCredentials, escalation_policy_id: str
    ) -> tuple[OnCallEntry, ...]:
        """Who is on call for the policy, with emails, in PagerDuty's order.

        Follows PagerDuty's classic pagination (``limit``/``offset``/``more``) for up to
        ``max_oncall_pages`` pages, one after the other; callers bound the whole lookup with
        their time budget. A page that fails fails the lookup: a partial list would drop people
        silently, and an earlier page's lowest escalation level may not be the lowest overall.
        """
        key = (credentials.fingerprint, escalation_policy_id)
        hit, cached = self._oncalls.get(key)
        if hit and cached is not None:
            return cached
        entries: list[OnCallEntry] = []
        offset = 0
        for page in range(1, self._max_oncall_pages + 1):
            params = (
                ("escalation_policy_ids[]", escalation_policy_id),
                ("include[]", "users"),
                ("limit", str(ONCALLS_PAGE_LIMIT)),
                ("offset", str(offset)),
            )
            body = await self._get(credentials, "/oncalls", params, not_found_ok=False)
            page_entries, rows = _oncall_entries(body or {})
            entries.extend(page_entries)
            # An empty page that claims more would otherwise be asked for again and again.
            if (body or {}).get("more") is not True or rows == 0:
                break
            if page == self._max_oncall_pages:
                log.warning(
                    "escalation policy has more on-call rows than are followed; using the first",
                    extra={"pages": page, "rows": len(entries)},
                )
            offset += rows
        result = tuple(entries)
        self._oncalls.put(key, result)
        return result

    async def _get(
        self,
        credentials: ApiCredentials,
        path: str,
        params: tuple[tuple[str, str], ...],
        *,
        not_found_ok: bool,
    ) -> Mapping[str, Any] | None:
        url = self._allowed_url(credentials, path)
        fingerprint = credentials.fingerprint
        blocked_until = self._blocked_until.get(fingerprint)
        if blocked_until is not None:
            if self._clock() < blocked_until:
                raise RateLimited("rate limited; waiting for ratelimit-reset")
            del self._blocked_until[fingerprint]
        answering = self._answering.get(fingerprint)
        if answering is None:
            answering = self._answering[fingerprint] = _Answering()
        answering.check(self._clock(), probe_s=self._call_timeout_s)
        headers = {"Authorization": f"Token token={credentials.token}", "Accept": ACCEPT}
        try:
            async with asyncio.timeout(self._call_timeout_s):
                response = await self._http.get(
                    url,
                    params=params,
                    headers=headers,
                    timeout=self._call_timeout_s,
                )
        except (TimeoutError, httpx.TimeoutException):
            self._on_answer("timeout")
            answering.record(False, self._clock(), url.host)
            raise PagerDutyUnavailable(f"GET {_route(path)} timed out") from None
        except httpx.HTTPError as exc:
            self._on_answer("failed")
            answering.record(False, self._clock(), url.host)
            raise PagerDutyUnavailable(f"GET {_route(path)} failed: {type(exc).__name__}") from None
        status = response.status_code
        self._on_answer(_outcome(status))
        # A 429 is an answer: it has a pause of its own, as long as PagerDuty asks for.
        answering.record(status < 500, self._clock(), url.host)
        if status == 429:
            wait = reset_seconds(response.headers)
            self._blocked_until[credentials.fingerprint] = self._clock() + wait
            log.warning(
                "PagerDuty rate limit reached; enrichment calls paused",
                extra={"route": _route(path), "pause_s": wait},
            )
            raise RateLimited(f"GET {_route(path)} answered 429")
        if status == 404 and not_found_ok:
            return None
        if status != 200:
            raise PagerDutyUnavailable(f"GET {_route(path)} answered {status}")
        try:
            body = response.json()
        except ValueError:
            raise PagerDutyUnavailable(f"GET {_route(path)} answered non-JSON") from None
        if not isinstance(body, dict):
            raise PagerDutyUnavailable(f"GET {_route(path)} answered an unexpected shape")
        return body

    def _allowed_url(self, credentials: ApiCredentials, path: str) -> httpx.URL:
        """The URL to call, if the integration's base URL is (still) allowed."""
        url, refusal = checked_url(credentials.base_url, path, self._allowed_hosts)
        if url is None:
            log.warning(
                "the integration's PagerDuty API URL is not allowed; no lookup made",
                extra={"route": _route(path), "reason": refusal},
            )
            raise PagerDutyUnavailable("API URL not allowed")
        return url


def checked_url(
    base_url: str, path: str, allowed_hosts: Collection[str]
) -> tuple[httpx.URL | None, str | None]:
    """``base_url + path`` if the base URL is (still) allowed, else None and why not."""
    refusal = api_url_refusal(base_url, allowed_hosts)
    url: httpx.URL | None = None
    if refusal is None:
        try:
            url = httpx.URL(base_url + path)
        except httpx.InvalidURL:
            refusal = "pagerduty_api_url is not a valid URL"
    # The same rule once more through httpx's own parser: the host it will connect to.
    if url is not None and (
        url.host not in allowed_hosts
        or not (url.scheme == "https" or (url.scheme == "http" and url.host in LOOPBACK_HOSTS))
    ):
        refusal = "pagerduty_api_url names a host that is not allowed"
    if refusal is not None:
        return None, refusal
    return url, None


def _outcome(status: int) -> str:
    return {200: "ok", 404: "not_found", 429: "rate_limited"}.get(status, "http_error")


def _route(path: str) -> str:
    # Logged and returned in reasons: the route, not the id in it.
    return "/users/{id}" if path.startswith("/users/") else path


def reset_seconds(
    headers: httpx.Headers, names: tuple[str, ...] = ("ratelimit-reset", "retry-after")
) -> float:
    """Seconds a 429 asks to wait, from the first usable header of ``names``."""
    for name in names:
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            continue
        if math.isfinite(value) and value >= 0:
            return min(value, MAX_RATE_LIMIT_WAIT_S)
    return DEFAULT_RATE_LIMIT_WAIT_S


def _email(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _oncall_entries(body: Mapping[str, Any]) -> tuple[list[OnCallEntry], int]:
    """The entries of one ``/oncalls`` page, and how many rows it had (for the next offset)."""
    raw = body.get("oncalls")
    if not isinstance(raw, list):
        raise PagerDutyUnavailable("GET /oncalls answered without an oncalls list")
    entries = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        level = item.get("escalation_level")
        user = item.get("user")
        entries.append(
            OnCallEntry(
                # An entry without a level sorts last rather than being dropped.
                escalation_level=level
                if isinstance(level, int) and not isinstance(level, bool)
                else 1_000_000,
                email=_email(user.get("email")) if isinstance(user, dict) else None,
            )
        )
    return entries, len(raw)
