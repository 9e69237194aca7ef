"""The unit of work on PostgreSQL: identity's repositories on one transaction with the outbox."""

from __future__ import annotations

from fireline_contracts import KEYS, SESSIONS, USERS, TopicSpec
from fireline_identity.adapters.audit import PgAuditLog
from fireline_identity.adapters.keys import PgKeyRepository
from fireline_identity.adapters.login_failures import PgLoginFailureRepository
from fireline_identity.adapters.orgs import PgOrgRepository
from fireline_identity.adapters.sessions import PgSessionRepository
from fireline_identity.adapters.users import PgUserRepository
from fireline_identity.service_layer.unit_of_work import IdentityEvent
from fireline_runtime import unit_of_work as runtime_uow
from fireline_runtime.db import Connection

_TOPICS: tuple[TopicSpec, ...] = (KEYS, USERS, SESSIONS)


def _topic_of(event: IdentityEvent) -> TopicSpec:
    # The contracts say which topic carries which event; a second table here could drift.
    for spec in _TOPICS:
        if isinstance(event, spec.events):
            return spec
    raise ValueError(f"identity publishes no {type(event).__name__}")


class _Repositories:
    # One holder rather than six optional attributes: every property checks the binding once.
    def __init__(self, conn: Connection) -> None:
        self.keys = PgKeyRepository(conn)
        self.orgs = PgOrgRepository(conn)
        self.users = PgUserRepository(conn)
        self.sessions = PgSessionRepository(conn)
        self.login_failures = PgLoginFailureRepository(conn)
        self.audit = PgAuditLog(conn)


class PgUnitOfWork(runtime_uow.PgUnitOfWork):
    """Keys, orgs, users, sessions, failed logins and the audit log, on one transaction with the
    outbox."""

    _repos: _Repositories | None = None

    def _bind(self, conn: Connection) -> None:
        self._repos = _Repositories(conn)

    def _unbind(self) -> None:
        self._repos = None

    @property
    def _bound(self) -> _Repositories:
        if self._repos is None:
            raise RuntimeError("enter the unit of work first")
        return self._repos

    @property
    def keys(self) -> PgKeyRepository:
        return self._bound.keys

    @property
    def orgs(self) -> PgOrgRepository:
        return self._bound.orgs

    @property
    def users(self) -> PgUserRepository:
        return self._bound.users

    @property
    def sessions(self) -> PgSessionRepository:
        return self._bound.sessions

    @property
    def login_failures(self) -> PgLoginFailureRepository:
        return self._bound.login_failures

    @property
    def audit(self) -> PgAuditLog:
        return self._bound.audit

    async def publish(self, event: IdentityEvent) -> None:
        await self.emit(_topic_of(event), event)
