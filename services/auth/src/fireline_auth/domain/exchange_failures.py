"""Failed key exchanges, tallied per key and minute for the audit log.

Counted in this process's memory, like the rate limiter: the hot path must not write to the
database once per failure, least of all while someone hammers a key. A minute's tally is
published once the minute is over, so a flood of attempts becomes one event per key and minute
(per replica). What a replica has not published when it stops is lost; the audit log is a record
of security-relevant activity, not a billing counter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from fireline_contracts.key_exchange_failures import MAX_REPORTED_ADDRESSES

WINDOW = timedelta(minutes=1)
MAX_TRACKED = 100_000


def window_start(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


@dataclass
class FailureWindow:
    """One key's failures within one minute."""

    key_id: UUID
    org_id: UUID
    start: datetime
    attempts: int = 0
    addresses: list[str] = field(default_factory=list)


class ExchangeFailureTally:
    """Failures by (key, minute) until the minute is over and they are reported."""

    def __init__(self, max_tracked: int = MAX_TRACKED) -> None:
        self._windows: dict[tuple[UUID, datetime], FailureWindow] = {}
        self._max_tracked = max_tracked
        self.dropped = 0
        """Failures not tallied because the tally was full (bounded memory under a flood)."""

    def record(self, *, key_id: UUID, org_id: UUID, address: str, at: datetime) -> None:
        slot = (key_id, window_start(at))
        window = self._windows.get(slot)
        if window is None:
            if len(self._windows) >= self._max_tracked:
                self.dropped += 1
                return
            window = self._windows[slot] = FailureWindow(key_id, org_id, slot[1])
        window.attempts += 1
        if address not in window.addresses and len(window.addresses) < MAX_REPORTED_ADDRESSES:
            window.addresses.append(address)

    def closed(self, now: datetime) -> list[FailureWindow]:
        """The windows whose minute is over at ``now``, oldest first (still held)."""
        current = window_start(now)
        return sorted(
            (w for w in self._windows.values() if w.start < current), key=lambda w: w.start
        )

    def forget(self, windows: list[FailureWindow]) -> None:
        """Drop windows once they are reported."""
        for window in windows:
            self._windows.pop((window.key_id, window.start), None)
