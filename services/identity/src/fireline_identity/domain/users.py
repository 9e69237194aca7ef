"""Users and orgs: email normalisation and the rules for names, roles and passwords."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from fireline_identity.domain.errors import InvalidInput
from fireline_identity.domain.names import trimmed_name

EMAIL_MAX_LENGTH = 254  # RFC 5321 path limit
EMAIL_PATTERN = r"^[^\s\x00-\x1f]+@[^\s\x00-\x1f@]+$"
"""What :func:`normalize_email` accepts, as a JSON Schema ``pattern`` for the OpenAPI (without
the surrounding whitespace it would also trim away)."""
NAME_MAX_LENGTH = 100
ORG_NAME_MAX_LENGTH = 100
# NIST SP 800-63B: length is what makes a password strong; no composition rules. The upper bound
# only keeps hashing cost bounded.
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 256


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


def parse_role(value: str) -> Role:
    """The role named ``value``, or :class:`InvalidInput`."""
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput("role", "must be 'admin' or 'member'") from None


def normalize_email(raw: str) -> str:
    """The email as stored: surrounding whitespace removed, case kept (compared case-folded)."""
    email = raw.strip()
    local, at, domain = email.rpartition("@")
    if (
        not at
        or not local
        or not domain
        or len(email) > EMAIL_MAX_LENGTH
        or any(ch.isspace() or ord(ch) < 32 for ch in email)
    ):
        raise InvalidInput("email", "must be an email address")
    return email


def email_lookup_key(email: str) -> str:
    """The form emails are compared in (the unique index uses the same ``lower``)."""
    return email.strip().lower()


def normalize_user_name(raw: str) -> str:
    """A display name: 1-100 characters after trimming."""
    return trimmed_name(raw, NAME_MAX_LENGTH)


def normalize_org_name(raw: str) -> str:
    """An org name: 1-100 characters after trimming."""
    return trimmed_name(raw, ORG_NAME_MAX_LENGTH)


def check_password(password: str) -> None:
    """Refuse passwords shorter than 12 or longer than 256 characters."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidInput("password", f"must be at least {PASSWORD_MIN_LENGTH} characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidInput("password", f"must be at most {PASSWORD_MAX_LENGTH} characters")


@dataclass(frozen=True)
class User:
    id: UUID
    org_id: UUID
    email: str
    name: str
    role: Role
    active: bool

    @property
    def is_active_admin(self) -> bool:
        return self.active and self.role is Role.ADMIN


def removes_an_admin(before: User, after: User) -> bool:
    """True when the change takes an active admin away (demotion or deactivation)."""
    return before.is_active_admin and not after.is_active_admin
