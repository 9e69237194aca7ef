"""Who may do what: admins manage users and keys; members may only list keys."""

from __future__ import annotations

from enum import StrEnum

from fireline_identity.domain.errors import PermissionDenied
from fireline_identity.domain.users import Role


class Action(StrEnum):
    LIST_KEYS = "list_keys"
    CREATE_KEY = "create_key"
    RENAME_KEY = "rename_key"
    ROTATE_KEY = "rotate_key"
    REVOKE_KEY = "revoke_key"
    LIST_USERS = "list_users"
    MANAGE_USERS = "manage_users"
    READ_AUDIT_LOG = "read_audit_log"


ALLOWED: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.MEMBER: frozenset({Action.LIST_KEYS}),
}


def is_allowed(role: Role, action: Action) -> bool:
    return action in ALLOWED[role]


def ensure_allowed(role: Role, action: Action) -> None:
    """Raise :class:`PermissionDenied` unless ``role`` may perform ``action``."""
    if not is_allowed(role, action):
        raise PermissionDenied(f"{role.value}s may not {action.value.replace('_', ' ')}")
