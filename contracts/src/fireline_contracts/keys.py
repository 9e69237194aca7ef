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
    previous_digest: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="Digest of the secret a rotation replaced, while its grace period lasts "
        "(as in `KeyRotated`); null when no rotation is in progress." + _REBUILD_NOTE,
    )
    previous_valid_until: UtcDatetime | None = Field(
        default=None,
        description="When the replaced secret stops working; set exactly when `previous_digest` "
        "is." + _REBUILD_NOTE,
    )

    @model_validator(mode="after")
    def _state_is_whole_or_absent(self) -> Self:
        # A digest without its scopes would let a rebuilt key authenticate with no (or guessed)
        # scopes, and scopes without a digest cannot authenticate at all: all or nothing.
        given = {f: getattr(self, f) is not None for f in ("digest", "scopes", "created_at")}
        if any(given.values()) and not all(given.values()):
            missing = ", ".join(f for f, ok in given.items() if not ok)
            raise ValueError(f"a rename carrying the key's state also needs {missing}")
        _check_grace(self.previous_digest, self.previous_valid_until)
        if self.previous_digest is not None and self.digest is None:
            raise ValueError("a rename carrying a rotation also needs the key's state")
        return self


def _check_grace(previous_digest: str | None, previous_valid_until: object) -> None:
    # A digest without its end would be valid forever; an end without a digest means nothing.
    if (previous_digest is None) != (previous_valid_until is None):
        raise ValueError("previous_digest and previous_valid_until go together")


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
    reason: Literal["revoked", "leaked"] | None = Field(
        default=None,
        description="Why: `revoked` by an admin, `leaked` when a secret-scanning report found "
        "the key's secret in public (then `revoked_by` is null and `report_url` says where). Null "
        "in revocations published before the field existed, which were all `revoked`.",
    )
    report_url: str | None = Field(
        default=None,
        max_length=2048,
        description="Where the secret scanner found the leaked secret; set only with `leaked`.",
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


class KeyRotatedPayload(ContractModel):
    """A key's new secret, with the key's whole state so the rotation alone can rebuild the key.

    The previous secret keeps working until ``previous_valid_until``; consumers enforce that end
    by their clock, as no event marks it.
    """

    key_id: UUID = Field(description="Id of the rotated key; unchanged by the rotation.")
    name: str = Field(min_length=1, description="The key's name.")
    digest: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="Lower-case hex SHA-256 of the key's new secret; never the secret.",
    )
    scopes: tuple[str, ...] = Field(description="Scopes a token exchanged for this key may hold.")
    expires_at: UtcDatetime | None = Field(
        default=None, description="When the key stops working; null for no expiry."
    )
    created_by: UUID | None = Field(
        default=None, description="User who created the key; null when created by the system."
    )
    created_at: UtcDatetime = Field(description="When the key was created.")
    previous_digest: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="Digest of the secret this rotation replaced, accepted until "
        "`previous_valid_until`; null for a rotation without grace period. A secret replaced by "
        "an earlier rotation is never accepted again.",
    )
    previous_valid_until: UtcDatetime | None = Field(
        default=None,
        description="When the replaced secret stops working; set exactly when `previous_digest` "
        "is.",
    )
    rotated_at: UtcDatetime = Field(description="When the key was rotated.")
    rotated_by: UUID | None = Field(
        default=None, description="User who rotated the key; null when rotated by the system."
    )

    @model_validator(mode="after")
    def _grace_is_whole(self) -> Self:
        _check_grace(self.previous_digest, self.previous_valid_until)
        return self


class KeyRotated(EventEnvelope):
    """An admin gave an API key a new secret; the old one works until its grace period ends."""

    event_type: Literal["KeyRotated"] = Field(
        default="KeyRotated", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: KeyRotatedPayload = Field(description="The key with its new secret's digest.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.key_id)


class KeysWatermarkPayload(ContractModel):
    """How current this partition of the keys topic is."""

    partition: int = Field(ge=0, description="The partition of the keys topic this record is on.")
    partitions: int = Field(
        ge=1, description="How many partitions the keys topic had when identity wrote this."
    )
    as_of: UtcDatetime = Field(
        description="Every key event identity committed before this instant is on this partition "
        "before this record: a consumer that has applied this record has seen every revocation "
        "identity acknowledged before `as_of`."
    )
    route: str = Field(
        min_length=1,
        max_length=64,
        description="The Kafka key identity chose so that the record lands on `partition`.",
    )


class KeysWatermark(EventEnvelope):
    """Identity's heartbeat on each partition of the keys topic, about once a second.

    It goes through identity's outbox like every key event and, written after them, reaches each
    partition after them: it proves that a consumer's view of revocations is current up to
    `as_of`. Services that enforce revocation refuse what they cannot vouch for once their view
    is older than their bound. `org_id` is the nil UUID: a watermark belongs to no org.
    """

    event_type: Literal["KeysWatermark"] = Field(
        default="KeysWatermark", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: KeysWatermarkPayload = Field(description="The partition and how current it is.")

    @property
    def kafka_key(self) -> str:
        return self.payload.route


KeyEvent = Annotated[
    KeyCreated | KeyRenamed | KeyRotated | KeyRevoked | KeysWatermark,
    Field(discriminator="event_type"),
]
"""Any event on the keys topic, discriminated by ``event_type``."""
