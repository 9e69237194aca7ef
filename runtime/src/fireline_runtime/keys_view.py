"""How current a service's view of identity's keys topic is, so that revocation has a bound that
holds while the broker is away.

Identity writes a :class:`~fireline_contracts.KeysWatermark` to every partition of the keys topic
about once a second, through its outbox and after every key event it committed earlier. A
consumer that applied partition ``p``'s watermark ``as_of = t`` has applied every revocation
identity acknowledged before ``t`` on that partition; over all partitions, the view is current up
to the oldest of them. A service that enforces revocation asks :meth:`KeysView.vouches`: once the
view is older than the bound (``FIRELINE_KEYS_VIEW_MAX_AGE_S``), a key revoked since may not have
arrived, so auth refuses exchanges and resource servers refuse tokens, with a 503. Nothing is
refused for a fresh view, broker up or down, and everything answers again once watermarks flow.

Replicas share one consumer group, so each watermark reaches one replica: the consumer stores it
in ``key_watermarks`` in its transaction, and every replica reads that table twice a second. A
replica that cannot read it (its database is away) stops learning of watermarks and, after the
bound, refuses: it fails closed.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import Gauge

from fireline_contracts import KEYS, EventEnvelope, KeysWatermark
from fireline_runtime.consumers import Treatment
from fireline_runtime.db import Connection
from fireline_runtime.event_signing import EventVerifier, split_keys
from fireline_runtime.periodic import run_periodically
from fireline_runtime.revocations_repository import PgKeyWatermarksRepository
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.settings import TokenSettings

log = logging.getLogger(__name__)

POLL_S = 0.5
"""How often every replica reads the watermarks the consumer stored: a small part of the bound."""


class KeysView:
    """The latest watermark of each partition this replica knows of, and what follows from it.

    Updated and read on one event loop without awaiting, so no lock is needed.
    """

    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self._as_of: dict[int, float] = {}
        self._partitions = 0
        self._newest = 0.0

    def update(self, partition: int, partitions: int, as_of: float) -> None:
        if as_of <= self._as_of.get(partition, float("-inf")):
            return  # a replay, or a notice that arrived after a newer load
        self._as_of[partition] = as_of
        if as_of >= self._newest:
            # The newest watermark says how many partitions there are (they may be added).
            self._newest, self._partitions = as_of, partitions

    def current_as_of(self) -> float | None:
        """Unix time up to which every revocation is known here; None before every partition
        has been heard from."""
        if self._partitions == 0:
            return None
        known = [self._as_of.get(p) for p in range(self._partitions)]
        if any(at is None for at in known):
            return None
        return min(at for at in known if at is not None)

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the view was current; None if it never was."""
        as_of = self.current_as_of()
        if as_of is None:
            return None
        return max((time.time() if now is None else now) - as_of, 0.0)

    def vouches(self, now: float | None = None) -> bool:
        """Whether every revocation acknowledged more than the bound ago is known here."""
        age = self.age(now)
        return age is not None and age <= self.max_age_s


async def record(conn: Connection, event: KeysWatermark) -> None:
    """Store the watermark, in the consumer's transaction; the other replicas read it from there."""
    p = event.payload
    await PgKeyWatermarksRepository(conn).store(p.partition, p.partitions, p.as_of)


def watermarks_idempotent(event: EventEnvelope) -> Treatment:
    """The triage of a keys-topic consumer: a watermark is stored without an inbox claim, since
    the upsert keeps the newest ``as_of`` and a replay changes nothing; every other event is
    claimed once. Identity writes one watermark per partition a second, so with claims every
    such consumer added that many inbox rows a second, kept for ever (about 1.3 million a day
    over a stack's five consumers of the keys topic)."""
    return "idempotent" if isinstance(event, KeysWatermark) else "once"


def remember(view: KeysView, event: KeysWatermark) -> None:
    """After the consumer's commit: this replica knows at once, without its own notice."""
    p = event.payload
    view.update(p.partition, p.partitions, p.as_of.timestamp())


def follow(runtime: ServiceRuntime, view: KeysView) -> None:
    """Keep ``view`` current on every replica of ``runtime``: the table is read at start and then
    every :data:`POLL_S`, so a replica that did not consume a watermark learns it that much later.

    Polled rather than notified: a NOTIFY every second would serialise commits across the whole
    PostgreSQL cluster (``outbox.py``) and make every listening backend of the database run a
    transaction to read it; one indexed read a second per replica costs less."""

    async def load() -> None:
        async with runtime.pool.acquire() as conn:
            stored = await PgKeyWatermarksRepository(conn).latest()
        for partition, partitions, as_of in stored:
            view.update(partition, partitions, as_of)

    async def start(rt: ServiceRuntime) -> None:
        await load()  # before traffic is served
        rt.spawn(
            run_periodically("keys view", load, interval_s=POLL_S, max_backoff_s=POLL_S),
            "keys-view",
        )

    runtime.on_start(start)


def follow_identity_keys(runtime: ServiceRuntime, settings: TokenSettings) -> KeysView | None:
    """For a service that acts on the keys topic: accept only records identity signed, and
    follow how current the view is. None when identity's public keys are not configured: then
    neither is checked, which start-up logs as a warning."""
    public_keys = split_keys(settings.identity_event_public_keys)
    if not public_keys:
        log.warning(
            "FIRELINE_IDENTITY_EVENT_PUBLIC_KEYS is not set: key events are not checked for "
            "identity's signature and revocation has no bound while the broker is away"
        )
        return None
    runtime.require_signature(KEYS, EventVerifier(public_keys))
    view = KeysView(settings.keys_view_max_age_s)
    follow(runtime, view)
    runtime.add_readiness_check("keys_view", view.vouches)
    age = Gauge(
        "fireline_keys_view_age_seconds",
        "How long ago this process's view of identity's keys topic was last current (identity's "
        "watermarks); past fireline_keys_view_max_age_seconds it refuses what it cannot vouch "
        "for. +Inf before the first watermark (sampled at scrape time).",
        registry=runtime.metrics.registry,
    )
    Gauge(
        "fireline_keys_view_max_age_seconds",
        "The revocation bound (FIRELINE_KEYS_VIEW_MAX_AGE_S).",
        registry=runtime.metrics.registry,
    ).set(view.max_age_s)

    async def sample() -> None:
        current = view.age()
        age.set(float("inf") if current is None else current)

    runtime.on_scrape(sample)
    return view
