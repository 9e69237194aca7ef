"""Use case: the users projection, kept from identity's users topic for creator matching."""

from __future__ import annotations

from fireline_incidents.domain.commands import (
    RecordUser,
)
from fireline_incidents.domain.model import (
    DirectoryUser,
    normalize_email,
)
from fireline_incidents.service_layer.unit_of_work import (
    UnitOfWork,
)


async def record_user(*, uow: UnitOfWork, command: RecordUser) -> bool:
    """Store a user's latest state in the projection; False if a newer state is already stored."""
    user = DirectoryUser(
        user_id=command.user_id,
        org_id=command.org_id,
        email=normalize_email(command.email),
        active=command.active,
    )
    async with uow:
        return await uow.users.record(user, version_at=command.version_at)
