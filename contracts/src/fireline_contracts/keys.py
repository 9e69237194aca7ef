"""Events on ``fireline.identity.keys.v1``: the lifecycle of an org's API keys.

Keyed by key id. Consumers (auth's key projection, the revoked-key deny lists) rebuild their state
from the latest events per key, so the topic can be compacted.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import Field, model_validator

from fireline_contracts.envelope import ContractModel, EventEnvelope, UtcDatetime


class KeyCreatedPayload(ContractModel):
    """A new API key. Carries the secret's digest so auth can verify it; never the secret."""

    key_id: UUID = Field(description="Id of the key; also the OAuth `client_id`.")
    name: str = Field(min_length=1, description="Human-readable name the admin gave the key.")
    digest: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="Lower-case hex SHA-256 of the key's secret. The secret itself never leaves "
        "identity.",
    )
    scopes: tuple[str, ...] = Field(description="Scopes a token exchanged for this key may hold.")
    expires_at: UtcDatetime | None = Field(
        default=None, description="When the key stops working; null for no expiry."
    )
    created_by: UUID | None = Field(
        default=None,
        description="User who created the key; null when created by bootstrap or the CLI.",
    )
    created_at: UtcDatetime = Field(description="When the key was created.")


class KeyCreated(EventEnvelope):
    """An admin generated an API key."""

    event_type: Literal["KeyCreated"] = Field(
        default="KeyCreated", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: KeyCreatedPayload = Field(description="The key as created.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.key_id)


_REBUILD_NOTE = (
    " Null in renames published before the field existed. With it, a consumer rebuilding from the"
    " compacted topic, where this rename may be the key's only event left, can recreate the key."
)


class KeyRenamedPayload(ContractModel):
    """A key's new name, and the rest of its state so the rename alone can rebuild the key."""

    key_id: UUID = Field(description="Id of the renamed key.")
    name: str = Field(min_length=1, description="The key's new name.")
    digest: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="Lower-case hex SHA-256 of the key's secret, as in `KeyCreated`; never the "
        "secret. When set, `scopes` and `created_at` are set too." + _REBUILD_NOTE,
    )
    scopes: tuple[str, ...] | None = Field(
        default=None,
        description="Scopes a token exchanged for this key may hold; set whenever `digest` is."
        + _REBUILD_NOTE,
    )
    expires_at: UtcDatetime | None = Field(
        default=None,
        description="When the key stops working; null for no expiry (or, without `digest`, "
        "unknown)." + _REBUILD_NOTE,
    )
    created_by: UUID | None = Field(
        default=None,
        description="User who created the key; null when created by bootstrap or the CLI (or, "
        "without `digest`, unknown)." + _REBUILD_NOTE,
    )
    created_at: UtcDatetime | None = Field(
        default=None,
        description="When the key was created; set whenever `digest` is." + _REBUILD_NOTE,
    )
    renamed_by: UUID | None = Field(
        default=None,
        description="User who renamed the key; null in renames published before the field "
        "existed. Read by the audit log.",
    )

    @model_validator(mode="after")
    def _state_is_whole_or_absent(self) -> Self:
        # A digest without its scopes would let a rebuilt key authenticate with no (or guessed)
        # scopes, and scopes without a digest cannot authenticate at all: all or nothing.
        given = {f: getattr(self, f) is not None for f in ("digest", "scopes", "created_at")}
        if any(given.values()) and not all(given.values()):
            missing = ", ".join(f for f, ok in given.items() if not ok)
            raise ValueError(f"a rename carrying the key's state also needs {missing}")
        return self


class KeyRenamed(EventEnvelope):
    """An admin renamed an API key."""

    event_type: Literal["KeyRenamed"] = Field(
        default="KeyRenamed", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: KeyRenamedPayload = Field(
        description="The key's new name and, from producers that set it, the rest of its state."
    )

    @property
    def kafka_key(self) -> str:
        return str(self.payload.key_id)


class KeyRevokedPayload(ContractModel):
    """Which key was revoked, when and by whom."""

    key_id: UUID = Field(description="Id of the revoked key.")
    revoked_at: UtcDatetime = Field(
        description="When the key was revoked; tokens issued for it are refused from then on."
    )
    revoked_by: UUID | None = Field(
        default=None, description="User who revoked the key; null when revoked by the system."
    )


class KeyRevoked(EventEnvelope):
    """An API key was revoked; every service must refuse its outstanding tokens at once."""

    event_type: Literal["KeyRevoked"] = Field(
        default="KeyRevoked", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: KeyRevokedPayload = Field(description="The revoked key.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.key_id)


KeyEvent = Annotated[KeyCreated | KeyRenamed | KeyRevoked, Field(discriminator="event_type")]
"""Any event on the keys topic, discriminated by ``event_type``."""
