"""What the use cases need from storage: six repositories and one transaction around them.

These are protocols so the use cases can run against in-memory fakes in unit tests; the
PostgreSQL implementations live in ``adapters`` (one module per repository) and
``adapters.postgres`` puts them on one transaction with the outbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from fireline_contracts import keys as keys_events
from fireline_contracts import sessions as sessions_events
from fireline_contracts import users as users_events
from fireline_identity.domain.audit import AuditEntry, AuditFilter, Position
from fireline_identity.domain.keys import ApiKey, NewSecret, Revocation, Secrets
from fireline_identity.domain.sessions import NewSession, RevokedSession, StoredSession
from fireline_identity.domain.users import User
from fireline_runtime.unit_of_work import Transactional

IdentityEvent = (
    keys_events.KeyCreated
    | keys_events.KeyRenamed
    | keys_events.KeyRotated
    | keys_events.KeyRevoked
    | keys_events.KeysWatermark
    | users_events.UserCreated
    | users_events.UserUpdated
    | users_events.UserDeactivated
    | sessions_events.LoginSucceeded
    | sessions_events.LoginFailed
    | sessions_events.SessionRevoked
)
"""Every event identity publishes (on the keys, users and sessions topics)."""


class KeyRepository(Protocol):
    async def drop_unsent_watermarks(self) -> None:
        """Forget the keys topic's watermarks still waiting in the outbox (the broker is away):
        the new ones supersede them, so an outage leaves one per partition waiting, and the
        first one sent when the broker is back is current."""

    async def count_active(self, org_id: UUID, now: datetime) -> int:
        """The org's keys that are neither revoked nor expired at ``now``."""

    async def count_active_by_org(self, now: datetime) -> dict[UUID, int]:
        """Active keys of every org that has any (orgs with none are left out)."""

    async def insert(self, key: ApiKey, *, digest: str) -> None:
        """Store a new key with the digest of its secret."""

    async def get(self, *, org_id: UUID, key_id: UUID, for_update: bool = False) -> ApiKey | None:
        """The org's key with that id, if any."""

    async def list_for_org(
        self, *, org_id: UUID, include_inactive: bool, now: datetime
    ) -> list[ApiKey]:
        """The org's keys, newest first; revoked and expired ones only with ``include_inactive``."""

    async def rename(self, key_id: UUID, name: str) -> Secrets:
        """Rename a key the caller has locked; returns its digests (for the KeyRenamed)."""

    async def rotate(self, key_id: UUID, new: NewSecret) -> Secrets:
        """Give a key the caller has locked a new secret. The replaced digest is kept until
        ``new.previous_valid_until`` (forgotten at once when None), and an older replaced one is
        dropped; the replaced secret's recorded use is cleared. Returns the new digests."""

    async def revoke(self, key_id: UUID, revocation: Revocation) -> None:
        """Mark the key revoked, saying why."""

    async def find_by_secret(self, digest: str) -> tuple[ApiKey, bool] | None:
        """The key of any org whose current or replaced secret has ``digest``, locked until the
        transaction ends, and whether it is the current one (a replaced one may be past its
        grace period)."""

    async def record_use(self, *, org_id: UUID, key_id: UUID, used_at: datetime) -> bool:
        """Move ``last_used_at`` forward (never back); False when the key is unknown or newer."""

    async def record_previous_secret_use(
        self, *, org_id: UUID, key_id: UUID, used_at: datetime
    ) -> bool:
        """Move the replaced secret's ``previous_used_at`` forward; uses from before the latest
        rotation do not count. False when nothing changed."""


class OrgRepository(Protocol):
    async def insert(self, *, org_id: UUID, name: str) -> None:
        """Store a new org; :class:`OrgNameTaken` when the name is in use."""

    async def any_exists(self) -> bool:
        """Whether there is any org at all."""

    async def lock_bootstrap(self) -> None:
        """Serialise "create the default org when none exists" until the transaction ends."""

    async def lock(self, org_id: UUID) -> bool:
        """Lock the org until the transaction ends; False when there is no such org."""

    async def name_of(self, org_id: UUID) -> str | None:
        """The org's name, if the org exists."""


class UserRepository(Protocol):
    async def insert(self, user: User, *, password_hash: str) -> None:
        """Store a new user; :class:`EmailTaken` when the org has a user with that email."""

    async def update(self, user: User) -> None:
        """Store the user's new state; :class:`EmailTaken` as for :meth:`insert`."""

    async def set_password_hash(self, user_id: UUID, password_hash: str) -> None:
        """Replace the user's password hash (a rehash with current parameters)."""

    async def get(self, *, org_id: UUID, user_id: UUID, for_update: bool = False) -> User | None:
        """The org's user with that id, if any."""

    async def list_for_org(self, org_id: UUID) -> list[User]:
        """Every user of the org, active or not, oldest first."""

    async def count_active_admins(self, org_id: UUID) -> int:
        """The org's active admins."""

    async def login_candidates(self, email_key: str) -> list[tuple[User, str]]:
        """Active users with this email in any org, oldest org first, with their password hashes."""


class SessionRepository(Protocol):
    async def insert(self, session: NewSession) -> None:
        """Store a new session, last seen when it started."""

    async def find(self, token_digest: str) -> StoredSession | None:
        """The session with this token digest, whatever its state."""

    async def touch(self, session_id: UUID, now: datetime) -> None:
        """Move the session's ``last_seen_at`` forward to ``now``."""

    async def revoke(self, token_digest: str, now: datetime) -> RevokedSession | None:
        """Revoke the session with this token digest; None when unknown or already revoked."""

    async def revoke_all_for_user(self, user_id: UUID, now: datetime) -> list[RevokedSession]:
        """Revoke every live session of the user; the ones this ended."""

    async def prune(self, *, ended_before: datetime, idle_since: datetime) -> int:
        """Delete sessions that ended before ``ended_before`` or were idle since ``idle_since``."""


class LoginFailureRepository(Protocol):
    async def lock(self, *, account: str, address: str) -> None:
        """Serialise logins of this account and of this address until the transaction ends."""

    async def recent_for_account(self, account: str, since: datetime) -> list[datetime]:
        """When the account's failures after ``since`` happened."""

    async def recent_for_pair(self, account: str, address: str, since: datetime) -> list[datetime]:
        """When the account's failures from this address after ``since`` happened."""

    async def recent_for_address(self, address: str, since: datetime) -> list[datetime]:
        """When the address's failures (any account) after ``since`` happened."""

    async def insert(self, *, account: str, address: str, at: datetime) -> int:
        """Record an attempt as failed (provisionally); returns its id."""

    async def succeeded(self, *, account: str, address: str, attempt_id: int, at: datetime) -> None:
        """Forget the attempt and the pair's earlier failures, and remember the address."""

    async def is_known_address(self, *, account: str, address: str, since: datetime) -> bool:
        """Whether the account logged in from this address after ``since``."""

    async def prune(self, *, before: datetime, known_before: datetime) -> int:
        """Delete failures before ``before`` and known addresses unused since ``known_before``."""


class AuditLog(Protocol):
    """The org's append-only audit log: entries are added and read, never changed."""

    async def append(self, entry: AuditEntry) -> bool:
        """Add the entry; False (and nothing changes) when an entry with its id exists."""

    async def page(
        self, *, org_id: UUID, where: AuditFilter, after: Position | None, limit: int
    ) -> list[AuditEntry]:
        """Up to ``limit`` matching entries of the org, newest first, after ``after``."""

    async def delete_older_than(self, cutoff: datetime, *, limit: int) -> int:
        """Delete up to ``limit`` entries (any org) that occurred before ``cutoff``; how many."""


class UnitOfWork(Transactional, Protocol):
    """One transaction: entering begins it, leaving commits it (or rolls back on an error).

    One instance may be entered again after it was left (a login uses two transactions, so no
    lock is held while the password is hashed), but never while it is entered.
    """

    @property
    def keys(self) -> KeyRepository: ...

    @property
    def orgs(self) -> OrgRepository: ...

    @property
    def users(self) -> UserRepository: ...

    @property
    def sessions(self) -> SessionRepository: ...

    @property
    def login_failures(self) -> LoginFailureRepository: ...

    @property
    def audit(self) -> AuditLog: ...

    async def publish(self, event: IdentityEvent) -> None:
        """Queue ``event`` in the outbox; it is sent only if the transaction commits."""
