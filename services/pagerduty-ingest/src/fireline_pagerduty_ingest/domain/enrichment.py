"""What enrichment learned about the people behind an alert, and how complete that is.

Emails only come from PagerDuty's REST API, which may be unconfigured, slow, failing or rate
limited. None of that may stop an alert: each lookup that fails just leaves its email out, and
``status`` tells consumers how much to trust the absence of an email.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

EnrichmentStatus = Literal["complete", "partial", "skipped", "failed"]


@dataclass(frozen=True)
class ApiCredentials:
    """Where and as whom to call PagerDuty; one integration's REST settings."""

    base_url: str
    token: str = field(repr=False)

    @property
    def fingerprint(self) -> str:
        """Identifies the account for caching and rate limiting without holding the token."""
        digest = hashlib.sha256(f"{self.base_url}\n{self.token}".encode()).hexdigest()
        return digest[:32]


class PagerDutyUnavailable(Exception):
    """A lookup did not get an answer; ``reason`` is short and contains no secret."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class OnCallEntry:
    """One on-call row of an escalation policy, as PagerDuty's ``/oncalls`` lists it."""

    escalation_level: int
    email: str | None


@dataclass(frozen=True)
class Enrichment:
    """The emails found for one delivery."""

    creator_email: str | None
    oncall_emails: tuple[str, ...]
    status: EnrichmentStatus


SKIPPED = Enrichment(creator_email=None, oncall_emails=(), status="skipped")
"""No API token configured: nothing was looked up."""


def enrichment_status(*, attempted: int, succeeded: int) -> EnrichmentStatus:
    """``complete`` when every lookup answered (or none was needed), ``failed`` when none did."""
    if succeeded >= attempted:
        return "complete"
    if succeeded == 0:
        return "failed"
    return "partial"


def oncall_emails(entries: Iterable[OnCallEntry]) -> tuple[str, ...]:
    """On-call emails, lowest escalation level first, each person once.

    The sort is stable, so within a level PagerDuty's own order is kept. Duplicates compare
    case-insensitively because the incidents service matches emails that way; the first spelling
    is kept.
    """
    seen: set[str] = set()
    ordered: list[str] = []
    for entry in sorted(entries, key=lambda e: e.escalation_level):
        if not entry.email:
            continue
        email = entry.email.strip()
        folded = email.casefold()
        if email and folded not in seen:
            seen.add(folded)
            ordered.append(email)
    return tuple(ordered)
