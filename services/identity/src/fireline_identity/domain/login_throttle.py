"""Failed-login throttling per account and per client address.

Policy: at most 5 failed logins per account (the normalised email, known or not, so the limit
reveals nothing) and 20 per client address within any 15 minutes. Beyond that, logins are refused
with 429 and ``Retry-After`` until the oldest counted failure leaves the window. A successful login
clears the account's failures. Failures live in the database, so replicas share the count.
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
        return max(1, math.ceil((release - now).total_seconds()))


WINDOW = timedelta(minutes=15)
PER_ACCOUNT = Throttle(limit=5, window=WINDOW)
PER_ADDRESS = Throttle(limit=20, window=WINDOW)


def strictest(*waits: int | None) -> int | None:
    """The longest wait among several throttles, or None when none of them refuses."""
    refusing = [w for w in waits if w is not None]
    return max(refusing) if refusing else None
