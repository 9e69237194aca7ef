"""Request and response bodies of the identity API (docs/architecture.md, "Services")."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field

from fireline_identity.domain.audit import AuditEntry
from fireline_identity.domain.keys import (
    GRACE_PERIOD_DEFAULT_MINUTES,
    GRACE_PERIOD_MAX_MINUTES,
    SCOPES,
    ApiKey,
    NewKey,
)
from fireline_identity.domain.keys import NAME_MAX_LENGTH as KEY_NAME_MAX_LENGTH
from fireline_identity.domain.sessions import SessionUser
from fireline_identity.domain.users import (
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    User,
)
from fireline_identity.domain.users import NAME_MAX_LENGTH as USER_NAME_MAX_LENGTH
from fireline_identity.service_layer.keys import KeyListing
from fireline_runtime.input_text import RequestModel, declared_text_field, name_field

RoleName = Literal["admin", "member"]


class LoginRequest(RequestModel):
    email: str = Field(max_length=320, description="The user's email (any case).")
    password: str = Field(max_length=PASSWORD_MAX_LENGTH * 4, description="The user's password.")


class MeResponse(BaseModel):
    id: UUID
    email: str
    name: str
    role: RoleName
    org_id: UUID
    org_name: str

    @classmethod
    def of(cls, user: SessionUser) -> MeResponse:
        return cls(
            id=user.user_id,
            email=user.email,
            name=user.name,
            role=user.role.value,
            org_id=user.org_id,
            org_name=user.org_name,
        )


class UserCreateRequest(RequestModel):
    email: str = declared_text_field(
        EMAIL_MAX_LENGTH, EMAIL_PATTERN, "Unique in the org, case-insensitively."
    )
    name: str = name_field(USER_NAME_MAX_LENGTH, "Display name, 1-100 characters.")
    role: RoleName = Field(description="`admin` manages users and keys; `member` lists keys.")
    password: str = Field(
        max_length=PASSWORD_MAX_LENGTH * 4,
        description="12 to 256 characters.",
        # Declared (checked by the domain, 422 with the reason), so the OpenAPI states the rule.
        json_schema_extra={"minLength": PASSWORD_MIN_LENGTH, "maxLength": PASSWORD_MAX_LENGTH},
    )


class UserPatchRequest(RequestModel):
    name: str | None = name_field(USER_NAME_MAX_LENGTH, "New display name.", default=None)
    email: str | None = declared_text_field(EMAIL_MAX_LENGTH, EMAIL_PATTERN, default=None)
    role: RoleName | None = None
    active: bool | None = Field(
        default=None, description="false deactivates the user and ends their sessions."
    )


class UserResponse(BaseModel):
    id: UUID
    email: str
    name: str
    role: RoleName
    active: bool

    @classmethod
    def of(cls, user: User) -> UserResponse:
        return cls(
            id=user.id, email=user.email, name=user.name, role=user.role.value, active=user.active
        )


class UserList(BaseModel):
    items: list[UserResponse]


class KeyCreateRequest(RequestModel):
    name: str = name_field(KEY_NAME_MAX_LENGTH, "1-64 characters, no control characters.")
    scopes: list[str] | None = Field(
        default=None,
        description="Subset of incidents:read, incidents:write, integrations:read, "
        "integrations:write; all of them when omitted.",
        json_schema_extra={"items": {"type": "string", "enum": list(SCOPES)}, "minItems": 1},
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="When the key stops working (future, with offset); none if null."
    )


class KeyRenameRequest(RequestModel):
    name: str = name_field(KEY_NAME_MAX_LENGTH, "1-64 characters, no control characters.")


class KeyRotateRequest(RequestModel):
    grace_period_minutes: int = Field(
        default=GRACE_PERIOD_DEFAULT_MINUTES,
        description=f"How long the old secret keeps working, 0-{GRACE_PERIOD_MAX_MINUTES} minutes "
        "(0: it stops at once).",
        json_schema_extra={"minimum": 0, "maximum": GRACE_PERIOD_MAX_MINUTES},
    )


class KeyCreatedResponse(BaseModel):
    """A key with its secret: the answer to creating a key and to rotating one."""

    id: UUID
    name: str
    key: str = Field(description="The secret. Shown in this response only; store it now.")
    hint: str
    scopes: list[str]
    created_at: datetime
    created_by: UUID | None
    expires_at: datetime | None

    @classmethod
    def of(cls, created: NewKey) -> KeyCreatedResponse:
        key = created.key
        return cls(
            id=key.id,
            name=key.name,
            key=created.secret,
            hint=key.hint,
            scopes=list(key.scopes),
            created_at=key.created_at,
            created_by=key.created_by,
            expires_at=key.expires_at,
        )


class RotationResponse(BaseModel):
    """A rotation in progress: the replaced secret still works until ``previous_valid_until``."""

    rotated_at: datetime
    previous_valid_until: datetime
    previous_used_at: datetime | None = Field(
        description="The old secret's latest use since the rotation (null: none seen): a "
        "machine still on the old secret. Reported by auth at most once a minute."
    )


class KeyResponse(BaseModel):
    id: UUID
    name: str
    hint: str
    scopes: list[str]
    status: Literal["active", "revoked", "expired"]
    created_at: datetime
    created_by: UUID | None
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    revocation_reason: Literal["revoked", "leaked"] | None = Field(
        description="`leaked`: a secret-scanning report found the secret in public."
    )
    revocation_report_url: str | None = Field(description="Where the leaked secret was found.")
    rotated_at: datetime | None = Field(description="The latest rotation, if any.")
    rotation: RotationResponse | None = Field(
        description="Set while a rotation's grace period lasts (the old secret still works)."
    )

    @classmethod
    def of(cls, listing: KeyListing) -> KeyResponse:
        key: ApiKey = listing.key
        rotation = None
        if listing.in_grace and key.rotated_at and key.previous_valid_until:
            rotation = RotationResponse(
                rotated_at=key.rotated_at,
                previous_valid_until=key.previous_valid_until,
                previous_used_at=key.previous_used_at,
            )
        return cls(
            id=key.id,
            name=key.name,
            hint=key.hint,
            scopes=list(key.scopes),
            status=listing.status.value,
            created_at=key.created_at,
            created_by=key.created_by,
            last_used_at=key.last_used_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
            revocation_reason=key.revoked_reason.value if key.revoked_reason else None,
            revocation_report_url=key.revoked_report_url,
            rotated_at=key.rotated_at,
            rotation=rotation,
        )


class KeyList(BaseModel):
    items: list[KeyResponse]


class AuditActorOut(BaseModel):
    type: Literal["user", "key", "secret_scanner", "system"]
    id: UUID | None = Field(description="The user's or key's id; null for the other types.")


class AuditTargetOut(BaseModel):
    type: str = Field(description="`key`, `user`, `session` or `integration`.")
    id: UUID


class AuditEventOut(BaseModel):
    id: UUID = Field(description="The entry's id: the id of the event it was built from.")
    occurred_at: datetime
    action: str = Field(description="What happened, e.g. `key.revoked`, `login.failed`.")
    actor: AuditActorOut
    target: AuditTargetOut
    address: str | None = Field(description="Client address, for logins and failed exchanges.")
    details: dict[str, Any] = Field(
        description="What an admin needs to read the entry (names, emails, counts); no secrets."
    )

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEventOut:
        return cls(
            id=entry.id,
            occurred_at=entry.occurred_at,
            action=entry.action.value,
            actor=AuditActorOut(type=entry.actor.type.value, id=entry.actor.id),
            target=AuditTargetOut(type=entry.target.type, id=entry.target.id),
            address=entry.address,
            details=dict(entry.details or {}),
        )


class AuditEventPage(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` with the same filters for the next, older page; null on "
        "the last page."
    )
