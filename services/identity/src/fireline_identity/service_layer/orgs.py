"""Use cases for orgs: the start-up bootstrap and the CLI's ``org create``."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from fireline_identity.domain.users import (
    Role,
    User,
    check_password,
    normalize_email,
    normalize_org_name,
    normalize_user_name,
)
from fireline_identity.service_layer import events
from fireline_identity.service_layer.ports import PasswordHasher
from fireline_identity.service_layer.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

DEFAULT_ORG_NAME = "default"
DEFAULT_ADMIN_NAME = "Administrator"


@dataclass(frozen=True)
class CreatedOrg:
    org_id: uuid.UUID
    org_name: str
    admin: User


async def create_org(
    *,
    uow: UnitOfWork,
    hasher: PasswordHasher,
    name: str,
    admin_email: str,
    admin_password: str,
    admin_name: str = DEFAULT_ADMIN_NAME,
) -> CreatedOrg:
    """Create an org with its first admin (and announce the admin on the users topic)."""
    org_name, admin, password_hash = await _prepare(
        hasher, name, admin_email, admin_password, admin_name
    )
    async with uow:
        created = await _insert(uow, org_name, admin, password_hash)
    log.info("org created", extra={"org_id": str(created.org_id)})
    return created


async def bootstrap_default_org(
    *, uow: UnitOfWork, hasher: PasswordHasher, admin_email: str, admin_password: str
) -> CreatedOrg | None:
    """Create org ``default`` with this admin when no org exists yet; None when one does."""
    org_name, admin, password_hash = await _prepare(
        hasher, DEFAULT_ORG_NAME, admin_email, admin_password, DEFAULT_ADMIN_NAME
    )
    async with uow:
        # Two replicas starting together: the lock makes the second one see the first's org.
        await uow.orgs.lock_bootstrap()
        if await uow.orgs.any_exists():
            return None
        created = await _insert(uow, org_name, admin, password_hash)
    log.info("bootstrap org and admin created", extra={"org_id": str(created.org_id)})
    return created


async def _prepare(
    hasher: PasswordHasher, name: str, email: str, password: str, admin_name: str
) -> tuple[str, User, str]:
    org_name = normalize_org_name(name)
    org_id = uuid.uuid4()
    admin = User(
        id=uuid.uuid4(),
        org_id=org_id,
        email=normalize_email(email),
        name=normalize_user_name(admin_name),
        role=Role.ADMIN,
        active=True,
    )
    check_password(password)
    return org_name, admin, await hasher.hash(password)


async def _insert(uow: UnitOfWork, org_name: str, admin: User, password_hash: str) -> CreatedOrg:
    await uow.orgs.insert(org_id=admin.org_id, name=org_name)
    await uow.users.insert(admin, password_hash=password_hash)
    await uow.publish(events.user_created(admin, by=None))
    return CreatedOrg(org_id=admin.org_id, org_name=org_name, admin=admin)
