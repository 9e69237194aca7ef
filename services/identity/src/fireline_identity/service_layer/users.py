"""Use cases for an org's users (admins only)."""

from __future__ import annotations

import dataclasses
import logging
import uuid

from fireline_contracts import utc_now
from fireline_identity.domain.errors import LastAdmin, NotFound
from fireline_identity.domain.permissions import Action, ensure_allowed
from fireline_identity.domain.sessions import SessionUser
from fireline_identity.domain.users import (
    User,
    check_password,
    normalize_email,
    normalize_user_name,
    parse_role,
    removes_an_admin,
)
from fireline_identity.service_layer import events
from fireline_identity.service_layer.ports import PasswordHasher
from fireline_identity.service_layer.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


async def create_user(
    *,
    uow: UnitOfWork,
    hasher: PasswordHasher,
    actor: SessionUser,
    email: str,
    name: str,
    role: str,
    password: str,
) -> User:
    """Add a user to the actor's org and announce it (UserCreated)."""
    ensure_allowed(actor.role, Action.MANAGE_USERS)
    user = User(
        id=uuid.uuid4(),
        org_id=actor.org_id,
        email=normalize_email(email),
        name=normalize_user_name(name),
        role=parse_role(role),
        active=True,
    )
    check_password(password)
    password_hash = await hasher.hash(password)
    async with uow:
        await uow.users.insert(user, password_hash=password_hash)
        await uow.publish(events.user_created(user, by=actor.user_id))
    log.info("user created", extra={"user_id": str(user.id), "by": str(actor.user_id)})
    return user


async def list_users(*, uow: UnitOfWork, actor: SessionUser) -> list[User]:
    """Every user of the actor's org, active or not, oldest first."""
    ensure_allowed(actor.role, Action.LIST_USERS)
    async with uow.reading():
        return await uow.users.list_for_org(actor.org_id)


async def update_user(
    *,
    uow: UnitOfWork,
    actor: SessionUser,
    user_id: uuid.UUID,
    name: str | None = None,
    email: str | None = None,
    role: str | None = None,
    active: bool | None = None,
) -> User:
    """Rename, change email or role, (de)activate; never leave the org without an admin."""
    ensure_allowed(actor.role, Action.MANAGE_USERS)
    changes = _changes(name=name, email=email, role=role, active=active)
    async with uow:
        # The org lock serialises admin changes: two admins demoting each other at once must not
        # both succeed.
        await uow.orgs.lock(actor.org_id)
        before = await uow.users.get(org_id=actor.org_id, user_id=user_id, for_update=True)
        if before is None:
            raise NotFound("user")
        after = dataclasses.replace(before, **changes)  # type: ignore[arg-type]
        if after == before:
            return before
        if (
            removes_an_admin(before, after)
            and await uow.users.count_active_admins(actor.org_id) <= 1
        ):
            raise LastAdmin("the org must keep at least one active admin")
        await uow.users.update(after)
        if before.active and not after.active:
            await uow.publish(events.user_deactivated(after, by=actor.user_id))
            for ended in await uow.sessions.revoke_all_for_user(after.id, utc_now()):
                await uow.publish(
                    events.session_revoked(ended, reason="user_deactivated", by=actor.user_id)
                )
        else:
            await uow.publish(events.user_updated(after, by=actor.user_id))
    log.info("user updated", extra={"user_id": str(after.id), "by": str(actor.user_id)})
    return after


def _changes(
    *, name: str | None, email: str | None, role: str | None, active: bool | None
) -> dict[str, object]:
    """The validated fields to replace; a field left out (None) keeps its value."""
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = normalize_user_name(name)
    if email is not None:
        changes["email"] = normalize_email(email)
    if role is not None:
        changes["role"] = parse_role(role)
    if active is not None:
        changes["active"] = active
    return changes
