"""Failed-login throttling that an attacker cannot turn against the account's owner.

Policy, within any 15 minutes:

* **per (account, address)**: 5 failures, then 429 with ``Retry-After`` until the oldest counted
  failure leaves the window. Guessing from one address stops; the owner elsewhere is unaffected.
* **per address**: 20 failures over all accounts, then 429 the same way (password spraying).
* **per account, a slow-down rather than a lock**: from the 10th failure on the account (from any
  address), an attempt from an address the account has never logged in from must come at least
  1 s after the account's latest failure, doubling with each further failure up to 60 s.
  Addresses the account logged in from within 90 days are exempt, so an attacker spreading
  guesses over many addresses can neither guess fast nor lock the owner out of their usual one.

The account is the normalised email, known or not, so the limits reveal nothing. A successful
login clears that (account, address)'s failures and remembers the address; the account-wide
count is left for the attacker. Records live in the database, so replicas share the counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Throttle:
    limit: int
    window: timedelta

    def retry_after(self, failures: Iterable[datetime], *, now: datetime) -> int | None:
        """Seconds until another attempt is allowed, or None when one is allowed now."""
        recent = sorted(f for f in failures if f > now - self.window)
        if len(recent) < self.limit:
            return None
        # The attempt is allowed again once enough failures have aged out to leave limit - 1.
        release = recent[len(recent) - self.limit] + self.window
        return _seconds_until(release, now)


@dataclass(frozen=True)
class SlowDown:
    """A growing minimum gap after an account's latest failure; never longer than ``max_gap``."""

    after: int
    max_gap: timedelta
    window: timedelta

    def retry_after(self, failures: Iterable[datetime], *, now: datetime) -> int | None:
        recent = sorted(f for f in failures if f > now - self.window)
        excess = len(recent) - self.after + 1
        if excess <= 0:
            return None
        gap = min(timedelta(seconds=2 ** (excess - 1)), self.max_gap)
        release = recent[-1] + gap
        return _seconds_until(release, now) if release > now else None


def _seconds_until(release: datetime, now: datetime) -> int:
    # Never zero: a refused client is always told to wait at least a second.
    return max(1, math.ceil((release - now).total_seconds()))


WINDOW = timedelta(minutes=15)
PER_PAIR = Throttle(limit=5, window=WINDOW)
PER_ADDRESS = Throttle(limit=20, window=WINDOW)
ACCOUNT_SLOWDOWN = SlowDown(after=10, max_gap=timedelta(seconds=60), window=WINDOW)
KNOWN_ADDRESS_TTL = timedelta(days=90)
"""How long a successful login exempts its address from the account's slow-down."""


def strictest(*waits: int | None) -> int | None:
    """The longest wait among several throttles, or None when none of them refuses."""
    refusing = [w for w in waits if w is not None]
    return max(refusing) if refusing else None
