"""Use cases of the audit log: record an event's entry, read a page, export, apply retention."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

from fireline_contracts import EventEnvelope, utc_now
from fireline_identity.domain.audit import (
    AuditEntry,
    AuditFilter,
    Position,
    decode_cursor,
    encode_cursor,
)
from fireline_identity.domain.permissions import Action, ensure_allowed
from fireline_identity.domain.sessions import SessionUser
from fireline_identity.service_layer.audit_entries import entry_for
from fireline_identity.service_layer.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

UnitOfWorkSource = Callable[[], UnitOfWork]
"""A fresh unit of work per call (the export takes one per batch)."""

EXPORT_BATCH = 500
PRUNE_BATCH = 5_000


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: str | None
    """Pass it back for the next (older) page; None on the last page."""


async def record(*, uow: UnitOfWork, event: EventEnvelope) -> bool:
    """Append the entry ``event`` becomes; False when it is not audited or already recorded."""
    entry = entry_for(event)
    if entry is None:
        return False
    async with uow:
        return await uow.audit.append(entry)


async def read_page(
    *,
    uow: UnitOfWork,
    actor: SessionUser,
    where: AuditFilter,
    cursor: str | None,
    limit: int,
) -> AuditPage:
    """One page of the actor's org's log, newest first (admins only)."""
    ensure_allowed(actor.role, Action.READ_AUDIT_LOG)
    fingerprint = where.fingerprint(actor.org_id)
    after = decode_cursor(cursor, fingerprint) if cursor is not None else None
    # One more than asked shows whether another page exists without a second query.
    async with uow.reading():
        found = await uow.audit.page(org_id=actor.org_id, where=where, after=after, limit=limit + 1)
    entries = found[:limit]
    more = len(found) > limit
    next_cursor = (
        encode_cursor(Position(entries[-1].occurred_at, entries[-1].id), fingerprint)
        if more
        else None
    )
    return AuditPage(entries=entries, next_cursor=next_cursor)


async def export(
    *, uow_factory: UnitOfWorkSource, actor: SessionUser, where: AuditFilter
) -> AsyncIterator[AuditEntry]:
    """Every matching entry of the actor's org, newest first, read in batches (admins only).

    Permission is checked before the first entry is produced, so a refusal is still an HTTP
    error rather than a broken stream; each batch takes its own connection, so a slow reader
    holds none between batches.
    """
    ensure_allowed(actor.role, Action.READ_AUDIT_LOG)
    return _export(uow_factory, actor, where)


async def _export(
    uow_factory: UnitOfWorkSource, actor: SessionUser, where: AuditFilter
) -> AsyncIterator[AuditEntry]:
    after: Position | None = None
    while True:
        uow = uow_factory()
        async with uow.reading():
            batch = await uow.audit.page(
                org_id=actor.org_id, where=where, after=after, limit=EXPORT_BATCH
            )
        for entry in batch:
            yield entry
        if len(batch) < EXPORT_BATCH:
            return
        after = Position(batch[-1].occurred_at, batch[-1].id)


async def prune(*, uow: UnitOfWork, retention: timedelta) -> bool:
    """Delete one batch of entries older than ``retention``; True when more may be waiting."""
    async with uow:
        deleted = await uow.audit.delete_older_than(utc_now() - retention, limit=PRUNE_BATCH)
    if deleted:
        log.info("audit entries past retention deleted", extra={"deleted": deleted})
    return deleted == PRUNE_BATCH
