"""Live updates for browsers: recent changes of ``fireline.incidents.v1``, per org, in order.

Every replica reads the whole topic itself (no consumer group), from its end at start-up, so a
browser connected to any replica sees every change. A position in the topic is a vector of the last
offset read per partition; it is the same on every replica, so it serves as the Server-Sent Events
id: a browser that reconnects (to this replica or another) sends it back as ``Last-Event-ID`` and
gets exactly the held events after it. What no longer is held (older than the replica, or pushed
out of the org's ring buffer) cannot be replayed: the browser is told to reload instead.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from uuid import UUID

_POSITION = re.compile(r"\d{1,4}:-?\d{1,19}(?:\.\d{1,4}:-?\d{1,19}){0,255}")


class InvalidPosition(ValueError):
    """A ``Last-Event-ID`` that no replica ever sent."""


def _part(partition: int, offset: int) -> str:
    """One partition's share of a position: ``<partition>:<last offset read>``; a position joins
    them with ``.`` in partition order."""
    return f"{partition}:{offset}"


def parse_position(raw: str) -> dict[int, int]:
    if not _POSITION.fullmatch(raw):
        raise InvalidPosition(raw)
    return {int(p): int(o) for p, o in (part.split(":") for part in raw.split("."))}


@dataclass(frozen=True)
class LiveEvent:
    """One record of the topic as browsers get it."""

    partition: int
    offset: int
    org_id: UUID
    event_type: str
    data: str
    """The event envelope's JSON."""
    position: str
    """The topic position just after this event: its SSE id."""


@dataclass(eq=False)  # identity, not value: streams live in sets
class Subscription:
    """One open stream: what it missed (or that it must reload), then what comes."""

    org_id: UUID
    position: str
    """Where the stream starts: its first id, whatever it replays or not."""
    backlog: list[LiveEvent]
    reset: bool
    """True when what the browser missed is no longer held: it must reload its page's data."""
    queue: asyncio.Queue[LiveEvent | None] = field(default_factory=lambda: asyncio.Queue(1000))
    overflowed: bool = False


@dataclass
class _OrgBuffer:
    events: deque[LiveEvent]
    complete_from: dict[int, int]
    """Per partition, the first offset from which every event of this org is still held."""


class LiveFeed:
    """Recent events per org and the open streams; fed by one topic reader per replica.

    Everything runs on the event loop and no method awaits, so no lock is needed.
    """

    def __init__(self, *, per_org: int = 1000) -> None:
        self._per_org = per_org
        self._started_at: dict[int, int] | None = None
        self._last: dict[int, int] = {}
        # The position's text, a "p:o" part per partition in partition order, kept as the offsets
        # move: every record of the topic gets its position, about one per PagerDuty delivery
        # on each replica, and formatting all of the partitions each time cost three times what
        # replacing one part and joining them does (BENCHMARKS.md, "Third wave, session 7").
        self._parts: list[str] = []
        self._part_of: dict[int, int] = {}
        self._orgs: dict[UUID, _OrgBuffer] = {}
        self._streams: dict[UUID, set[Subscription]] = {}
        self.started = asyncio.Event()

    def start(self, next_offsets: Mapping[int, int]) -> None:
        """The reader's starting point: the next offset per partition."""
        self._started_at = dict(next_offsets)
        self._last = {p: o - 1 for p, o in next_offsets.items()}
        self._reformat()
        self.started.set()

    @property
    def position(self) -> str:
        return ".".join(self._parts)

    def _reformat(self) -> None:
        ordered = sorted(self._last)
        self._part_of = {p: i for i, p in enumerate(ordered)}
        self._parts = [_part(p, self._last[p]) for p in ordered]

    def _advance(self, partition: int, offset: int) -> None:
        self._last[partition] = offset
        index = self._part_of.get(partition)
        if index is None:
            self._reformat()  # a partition not seen before
        else:
            self._parts[index] = _part(partition, offset)

    @property
    def last_offsets(self) -> dict[int, int]:
        return dict(self._last)

    def skip(self, partition: int, offset: int) -> None:
        """A record no browser gets (unreadable): the position still moves past it."""
        self._advance(partition, offset)

    def publish(
        self, partition: int, offset: int, org_id: UUID, event_type: str, data: str
    ) -> None:
        self._advance(partition, offset)
        event = LiveEvent(partition, offset, org_id, event_type, data, self.position)
        buffer = self._orgs.get(org_id)
        if buffer is None:
            buffer = self._orgs[org_id] = _OrgBuffer(deque(), dict(self._started_at or {}))
        if len(buffer.events) >= self._per_org:
            dropped = buffer.events.popleft()
            buffer.complete_from[dropped.partition] = dropped.offset + 1
        buffer.events.append(event)
        for stream in list(self._streams.get(org_id, ())):
            try:
                stream.queue.put_nowait(event)
            except asyncio.QueueFull:
                # A browser this far behind reconnects and resumes from its last id instead.
                stream.overflowed = True
                self.unsubscribe(stream)

    def subscribe(self, org_id: UUID, last_event_id: str | None) -> Subscription:
        """Open a stream for ``org_id``, resuming after ``last_event_id`` when it is held."""
        seen = parse_position(last_event_id) if last_event_id else None
        backlog: list[LiveEvent] = []
        reset = False
        if seen is not None:
            buffer = self._orgs.get(org_id)
            complete_from = buffer.complete_from if buffer else (self._started_at or {})
            if any(seen.get(p, -1) + 1 < first for p, first in complete_from.items()):
                reset = True
            elif buffer is not None:
                backlog = [e for e in buffer.events if e.offset > seen.get(e.partition, -1)]
        stream = Subscription(org_id, self.position, backlog, reset)
        self._streams.setdefault(org_id, set()).add(stream)
        return stream

    def unsubscribe(self, stream: Subscription) -> None:
        streams = self._streams.get(stream.org_id)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self._streams[stream.org_id]
        if stream.overflowed:
            # Its last delivered id is where it resumes; what is queued would come after it.
            while not stream.queue.empty():
                stream.queue.get_nowait()
            stream.queue.put_nowait(None)  # wakes the stream so it can end

    def open_streams(self) -> int:
        return sum(len(s) for s in self._streams.values())
