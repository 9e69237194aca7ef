"""Use case: apply identity's key events to auth's key projection."""

from __future__ import annotations

from fireline_auth.adapters import key_projection
from fireline_contracts import EventEnvelope, KeyCreated, KeyRenamed, KeyRenamedPayload, KeyRevoked
from fireline_runtime.db import Connection


async def apply_key_event(conn: Connection, event: EventEnvelope) -> None:
    """Fold one keys-topic event into the projection (order-safe; the inbox dedupes)."""
    if isinstance(event, KeyCreated):
        p = event.payload
        await key_projection.apply_created(
            conn,
            key_id=p.key_id,
            org_id=event.org_id,
            name=p.name,
            digest=p.digest,
            scopes=p.scopes,
            expires_at=p.expires_at,
            created_at=p.created_at,
            event_at=event.occurred_at,
        )
    elif isinstance(event, KeyRenamed):
        renamed = event.payload
        await key_projection.apply_renamed(
            conn,
            key_id=renamed.key_id,
            org_id=event.org_id,
            name=renamed.name,
            event_at=event.occurred_at,
            state=_state_of(renamed),
        )
    elif isinstance(event, KeyRevoked):
        await key_projection.apply_revoked(
            conn,
            key_id=event.payload.key_id,
            org_id=event.org_id,
            revoked_at=event.payload.revoked_at,
            event_at=event.occurred_at,
        )


def _state_of(p: KeyRenamedPayload) -> key_projection.KeyState | None:
    """The key's state when the rename carries it; older renames carry only the name."""
    # The contract only accepts digest, scopes and created_at together; checking all three also
    # narrows their types.
    if p.digest is None or p.scopes is None or p.created_at is None:
        return None
    return key_projection.KeyState(
        digest=p.digest, scopes=p.scopes, expires_at=p.expires_at, created_at=p.created_at
    )
