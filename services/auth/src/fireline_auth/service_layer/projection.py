"""Use case: apply identity's key events to auth's key projection."""

from __future__ import annotations

from fireline_auth.domain.keys import KeyState
from fireline_auth.service_layer.unit_of_work import UnitOfWork
from fireline_contracts import (
    EventEnvelope,
    KeyCreated,
    KeyRenamed,
    KeyRenamedPayload,
    KeyRevoked,
    KeyRotated,
)


async def apply_key_event(uow: UnitOfWork, event: EventEnvelope) -> None:
    """Fold one keys-topic event into the projection (order-safe; the inbox dedupes)."""
    if not isinstance(event, KeyCreated | KeyRenamed | KeyRotated | KeyRevoked):
        return
    async with uow:
        if isinstance(event, KeyCreated):
            p = event.payload
            await uow.api_keys.apply_created(
                key_id=p.key_id,
                org_id=event.org_id,
                name=p.name,
                digest=p.digest,
                scopes=p.scopes,
                expires_at=p.expires_at,
                created_at=p.created_at,
                event_at=event.occurred_at,
            )
        elif isinstance(event, KeyRotated):
            # A rotation carries the key's whole state, as a full rename does, with new secrets:
            # the projection takes them because the event is newer than the ones it has.
            r = event.payload
            await uow.api_keys.apply_renamed(
                key_id=r.key_id,
                org_id=event.org_id,
                name=r.name,
                event_at=event.occurred_at,
                state=KeyState(
                    digest=r.digest,
                    scopes=r.scopes,
                    expires_at=r.expires_at,
                    created_at=r.created_at,
                    previous_digest=r.previous_digest,
                    previous_valid_until=r.previous_valid_until,
                ),
            )
        elif isinstance(event, KeyRenamed):
            renamed = event.payload
            await uow.api_keys.apply_renamed(
                key_id=renamed.key_id,
                org_id=event.org_id,
                name=renamed.name,
                event_at=event.occurred_at,
                state=_state_of(renamed),
            )
        else:
            await uow.api_keys.apply_revoked(
                key_id=event.payload.key_id,
                org_id=event.org_id,
                revoked_at=event.payload.revoked_at,
                event_at=event.occurred_at,
            )


def _state_of(p: KeyRenamedPayload) -> KeyState | None:
    """The key's state when the rename carries it; older renames carry only the name."""
    # The contract only accepts digest, scopes and created_at together; checking all three also
    # narrows their types.
    if p.digest is None or p.scopes is None or p.created_at is None:
        return None
    return KeyState(
        digest=p.digest,
        scopes=p.scopes,
        expires_at=p.expires_at,
        created_at=p.created_at,
        previous_digest=p.previous_digest,
        previous_valid_until=p.previous_valid_until,
    )
