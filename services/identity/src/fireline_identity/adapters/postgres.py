"""The unit of work on PostgreSQL: identity's repositories on one transaction with the outbox."""

from __future__ import annotations

from fireline_contracts import KEYS, SESSIONS, USERS, TopicSpec
from fireline_identity.adapters.audit_repository import PgAuditRepository
from fireline_identity.adapters.keys_repository import PgKeyRepository
from fireline_identity.adapters.login_failures_repository import PgLoginFailureRepository
from fireline_identity.adapters.orgs_repository import PgOrgRepository
from fireline_identity.adapters.sessions_repository import PgSessionRepository
from fireline_identity.adapters.users_repository import PgUserRepository
from fireline_identity.service_layer.unit_of_work import IdentityEvent
from fireline_runtime import unit_of_work as runtime_uow
from fireline_runtime.unit_of_work import repository

_TOPICS: tuple[TopicSpec, ...] = (KEYS, USERS, SESSIONS)


def _topic_of(event: IdentityEvent) -> TopicSpec:
    # The contracts say which topic carries which event; a second table here could drift.
    for spec in _TOPICS:
        if isinstance(event, spec.events):
            return spec
    raise ValueError(f"identity publishes no {type(event).__name__}")


class PgUnitOfWork(runtime_uow.PgUnitOfWork):
    """Keys, orgs, users, sessions, failed logins and the audit log, on one transaction with the
    outbox."""

    keys = repository(PgKeyRepository)
    orgs = repository(PgOrgRepository)
    users = repository(PgUserRepository)
    sessions = repository(PgSessionRepository)
    login_failures = repository(PgLoginFailureRepository)
    audit = repository(PgAuditRepository)

    async def publish(self, event: IdentityEvent) -> None:
        await self.emit(_topic_of(event), event)
