"""The use cases against an in-memory unit of work: the key limit, revocation, the last admin,
login throttling, and events that are queued only when the transaction commits."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import argon2
import pytest

from fireline_contracts import (
    KEYS,
    SESSIONS,
    USERS,
    KeyCreated,
    KeyRenamed,
    KeyRevoked,
    KeyRevokedPayload,
    KeyRotated,
    KeyRotatedPayload,
    KeysWatermark,
    KeysWatermarkPayload,
    LoginFailed,
    LoginSucceeded,
    SessionRevoked,
    UserCreated,
    UserDeactivated,
    UserUpdated,
    api_keys,
    utc_now,
)
from fireline_identity.adapters.passwords import Argon2Hasher
from fireline_identity.domain.audit import (
    Actor,
    ActorType,
    AuditAction,
    AuditEntry,
    AuditFilter,
    Position,
    Target,
)
from fireline_identity.domain.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidInput,
    KeyAlreadyRevoked,
    KeyExpired,
    KeyLimitReached,
    LastAdmin,
    NotFound,
    OrgNameTaken,
    PermissionDenied,
    ReportInvalid,
    ReportRefused,
    TooManyAttempts,
    Unauthenticated,
)
from fireline_identity.domain.keys import (
    MAX_ACTIVE_KEYS_PER_ORG,
    ApiKey,
    KeyStatus,
    NewSecret,
    Revocation,
    RevocationReason,
    Secrets,
)
from fireline_identity.domain.secret_scanning import MAX_REPORT_TOKENS
from fireline_identity.domain.sessions import (
    NewSession,
    RevokedSession,
    SessionPolicy,
    SessionUser,
    StoredSession,
)
from fireline_identity.domain.users import Role, User
from fireline_identity.service_layer import (
    audit,
    keys,
    orgs,
    secret_scanning,
    sessions,
    users,
    watermarks,
)
from fireline_identity.service_layer.audit_entries import entry_for
from fireline_identity.service_layer.unit_of_work import IdentityEvent
from support import fake_uow

ADMIN_EMAIL = "Admin@Acme.example"
PASSWORD = "correct horse battery staple"
POLICY = SessionPolicy()


class FakeKeys:
    def __init__(self) -> None:
        self.rows: dict[UUID, ApiKey] = {}
        self.digests: dict[UUID, str] = {}
        self.previous: dict[UUID, str] = {}
        self.revoked_by: dict[UUID, UUID | None] = {}
        # Watermarks written that the relay has not sent yet (the outbox's view).
        self.unsent_watermarks: list[KeysWatermark] = []

    async def drop_unsent_watermarks(self) -> None:
        self.unsent_watermarks.clear()

    def _secrets(self, key_id: UUID) -> Secrets:
        key = self.rows[key_id]
        previous = self.previous.get(key_id)
        return Secrets(
            self.digests[key_id], previous, key.previous_valid_until if previous else None
        )

    def _active(self, key: ApiKey, now: datetime) -> bool:
        return key.status(now) is KeyStatus.ACTIVE

    async def count_active(self, org_id: UUID, now: datetime) -> int:
        return sum(1 for k in self.rows.values() if k.org_id == org_id and self._active(k, now))

    async def count_active_by_org(self, now: datetime) -> dict[UUID, int]:
        counts: dict[UUID, int] = {}
        for key in self.rows.values():
            if self._active(key, now):
                counts[key.org_id] = counts.get(key.org_id, 0) + 1
        return counts

    async def insert(self, key: ApiKey, *, digest: str) -> None:
        self.rows[key.id] = key
        self.digests[key.id] = digest

    async def get(self, *, org_id: UUID, key_id: UUID, for_update: bool = False) -> ApiKey | None:
        found = self.rows.get(key_id)
        return found if found is not None and found.org_id == org_id else None

    async def list_for_org(
        self, *, org_id: UUID, include_inactive: bool, now: datetime
    ) -> list[ApiKey]:
        found = [
            k
            for k in self.rows.values()
            if k.org_id == org_id and (include_inactive or self._active(k, now))
        ]
        return sorted(found, key=lambda k: k.created_at, reverse=True)

    async def rename(self, key_id: UUID, name: str) -> Secrets:
        self.rows[key_id] = replace(self.rows[key_id], name=name)
        return self._secrets(key_id)

    async def rotate(self, key_id: UUID, new: NewSecret) -> Secrets:
        self.previous.pop(key_id, None)
        if new.previous_valid_until is not None:
            self.previous[key_id] = self.digests[key_id]
        self.digests[key_id] = new.digest
        self.rows[key_id] = replace(
            self.rows[key_id],
            hint=new.hint,
            rotated_at=new.at,
            previous_valid_until=new.previous_valid_until,
            previous_used_at=None,
        )
        return self._secrets(key_id)

    async def revoke(self, key_id: UUID, revocation: Revocation) -> None:
        self.rows[key_id] = replace(
            self.rows[key_id],
            revoked_at=revocation.at,
            revoked_reason=revocation.reason,
            revoked_report_url=revocation.report_url,
        )
        self.revoked_by[key_id] = revocation.by

    async def find_by_secret(self, digest: str) -> tuple[ApiKey, bool] | None:
        for key_id, key in self.rows.items():
            if self.digests[key_id] == digest:
                return key, True
            if self.previous.get(key_id) == digest:
                return key, False
        return None

    async def record_previous_secret_use(
        self, *, org_id: UUID, key_id: UUID, used_at: datetime
    ) -> bool:
        key = await self.get(org_id=org_id, key_id=key_id)
        if key is None or key.rotated_at is None or used_at < key.rotated_at:
            return False
        if key.previous_used_at is not None and key.previous_used_at >= used_at:
            return False
        self.rows[key_id] = replace(key, previous_used_at=used_at)
        return True

    async def record_use(self, *, org_id: UUID, key_id: UUID, used_at: datetime) -> bool:
        key = await self.get(org_id=org_id, key_id=key_id)
        if key is None or (key.last_used_at is not None and key.last_used_at >= used_at):
            return False
        self.rows[key_id] = replace(key, last_used_at=used_at)
        return True


class FakeOrgs:
    def __init__(self) -> None:
        self.names: dict[UUID, str] = {}
        self.locked: list[UUID] = []

    async def insert(self, *, org_id: UUID, name: str) -> None:
        if name.lower() in (n.lower() for n in self.names.values()):
            raise OrgNameTaken(name)
        self.names[org_id] = name

    async def any_exists(self) -> bool:
        return bool(self.names)

    async def lock_bootstrap(self) -> None:
        pass

    async def lock(self, org_id: UUID) -> bool:
        self.locked.append(org_id)
        return org_id in self.names

    async def name_of(self, org_id: UUID) -> str | None:
        return self.names.get(org_id)


class FakeUsers:
    def __init__(self) -> None:
        self.rows: dict[UUID, tuple[User, str]] = {}

    def _check_email(self, user: User) -> None:
        for other, _ in self.rows.values():
            same = other.org_id == user.org_id and other.email.lower() == user.email.lower()
            if same and other.id != user.id:
                raise EmailTaken("taken")

    async def insert(self, user: User, *, password_hash: str) -> None:
        self._check_email(user)
        self.rows[user.id] = (user, password_hash)

    async def update(self, user: User) -> None:
        self._check_email(user)
        self.rows[user.id] = (user, self.rows[user.id][1])

    async def set_password_hash(self, user_id: UUID, password_hash: str) -> None:
        self.rows[user_id] = (self.rows[user_id][0], password_hash)

    async def get(self, *, org_id: UUID, user_id: UUID, for_update: bool = False) -> User | None:
        found = self.rows.get(user_id)
        return found[0] if found is not None and found[0].org_id == org_id else None

    async def list_for_org(self, org_id: UUID) -> list[User]:
        return [u for u, _ in self.rows.values() if u.org_id == org_id]

    async def count_active_admins(self, org_id: UUID) -> int:
        return sum(1 for u in await self.list_for_org(org_id) if u.is_active_admin)

    async def login_candidates(self, email_key: str) -> list[tuple[User, str]]:
        return [(u, h) for u, h in self.rows.values() if u.active and u.email.lower() == email_key]


@dataclass
class _SessionRow:
    id: UUID
    user_id: UUID
    org_id: UUID
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


class FakeSessions:
    """Joins the users and orgs fakes on lookup, as the SQL joins the tables."""

    def __init__(self, users: FakeUsers, orgs: FakeOrgs) -> None:
        self.rows: dict[str, _SessionRow] = {}
        self._users = users
        self._orgs = orgs

    async def insert(self, session: NewSession) -> None:
        self.rows[session.token_digest] = _SessionRow(
            session.id, session.user_id, session.org_id, session.started_at, session.expires_at
        )

    async def find(self, token_digest: str) -> StoredSession | None:
        row = self.rows.get(token_digest)
        if row is None:
            return None
        user = self._users.rows[row.user_id][0]
        caller = SessionUser(
            session_id=row.id,
            user_id=row.user_id,
            org_id=row.org_id,
            org_name=self._orgs.names[row.org_id],
            email=user.email,
            name=user.name,
            role=user.role,
        )
        return StoredSession(
            caller=caller,
            user_active=user.active,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )

    async def touch(self, session_id: UUID, now: datetime) -> None:
        for row in self.rows.values():
            if row.id == session_id and row.last_seen_at < now:
                row.last_seen_at = now

    async def revoke(self, token_digest: str, now: datetime) -> RevokedSession | None:
        row = self.rows.get(token_digest)
        if row is None or row.revoked_at is not None:
            return None
        row.revoked_at = now
        return RevokedSession(row.id, row.user_id, row.org_id)

    async def revoke_all_for_user(self, user_id: UUID, now: datetime) -> list[RevokedSession]:
        ended = []
        for row in self.rows.values():
            if row.user_id == user_id and row.revoked_at is None:
                row.revoked_at = now
                ended.append(RevokedSession(row.id, row.user_id, row.org_id))
        return ended

    async def prune(self, *, ended_before: datetime, idle_since: datetime) -> int:
        return 0


@dataclass
class FakeLoginFailures:
    failures: dict[int, tuple[str, str, datetime]] = field(default_factory=dict)
    known: dict[tuple[str, str], datetime] = field(default_factory=dict)

    async def lock(self, *, account: str, address: str) -> None:
        pass

    def _since(self, since: datetime, account: str | None, address: str | None) -> list[datetime]:
        return [
            at
            for acc, addr, at in self.failures.values()
            if at > since and account in (None, acc) and address in (None, addr)
        ]

    async def recent_for_account(self, account: str, since: datetime) -> list[datetime]:
        return self._since(since, account, None)

    async def recent_for_pair(self, account: str, address: str, since: datetime) -> list[datetime]:
        return self._since(since, account, address)

    async def recent_for_address(self, address: str, since: datetime) -> list[datetime]:
        return self._since(since, None, address)

    async def insert(self, *, account: str, address: str, at: datetime) -> int:
        attempt_id = len(self.failures) + 1
        self.failures[attempt_id] = (account, address, at)
        return attempt_id

    async def succeeded(self, *, account: str, address: str, attempt_id: int, at: datetime) -> None:
        self.failures = {
            i: f
            for i, f in self.failures.items()
            if i != attempt_id and f[:2] != (account, address)
        }
        self.known[(account, address)] = at

    async def is_known_address(self, *, account: str, address: str, since: datetime) -> bool:
        last = self.known.get((account, address))
        return last is not None and last > since

    async def prune(self, *, before: datetime, known_before: datetime) -> int:
        return 0


class FakeAuditLog:
    """Append-only, ordered as the SQL orders: newest first, ties by id."""

    def __init__(self) -> None:
        self.entries: dict[UUID, AuditEntry] = {}

    async def append(self, entry: AuditEntry) -> bool:
        if entry.id in self.entries:
            return False
        self.entries[entry.id] = entry
        return True

    async def page(
        self, *, org_id: UUID, where: AuditFilter, after: Position | None, limit: int
    ) -> list[AuditEntry]:
        def matches(e: AuditEntry) -> bool:
            return (
                e.org_id == org_id
                and where.actor_type in (None, e.actor.type)
                and where.actor_id in (None, e.actor.id)
                and where.action in (None, e.action)
                and where.target_id in (None, e.target.id)
                and (where.since is None or e.occurred_at >= where.since)
                and (where.until is None or e.occurred_at < where.until)
                and (after is None or (e.occurred_at, e.id) < (after.occurred_at, after.id))
            )

        found = sorted(
            filter(matches, self.entries.values()),
            key=lambda e: (e.occurred_at, e.id),
            reverse=True,
        )
        return found[:limit]

    async def delete_older_than(self, cutoff: datetime, *, limit: int) -> int:
        old = [i for i, e in self.entries.items() if e.occurred_at < cutoff][:limit]
        for entry_id in old:
            del self.entries[entry_id]
        return len(old)


class Store:
    def __init__(self) -> None:
        self.keys = FakeKeys()
        self.orgs = FakeOrgs()
        self.users = FakeUsers()
        self.sessions = FakeSessions(self.users, self.orgs)
        self.login_failures = FakeLoginFailures()
        self.audit = FakeAuditLog()


class FakeUnitOfWork(fake_uow.FakeUnitOfWork[Store, IdentityEvent]):
    def __init__(self) -> None:
        super().__init__(fake_uow.FakeDatabase(Store(), topics=(KEYS, USERS, SESSIONS)))

    @property
    def keys(self) -> FakeKeys:
        return self.bound.keys

    @property
    def orgs(self) -> FakeOrgs:
        return self.bound.orgs

    @property
    def users(self) -> FakeUsers:
        return self.bound.users

    @property
    def sessions(self) -> FakeSessions:
        return self.bound.sessions

    @property
    def login_failures(self) -> FakeLoginFailures:
        return self.bound.login_failures

    @property
    def audit(self) -> FakeAuditLog:
        return self.bound.audit


@pytest.fixture(scope="module")
def hasher() -> Argon2Hasher:
    # The cheapest argon2id parameters: these tests are about the use cases, not the hash.
    return Argon2Hasher(argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@dataclass
class Org:
    uow: FakeUnitOfWork
    admin: SessionUser


def session_user(user: User) -> SessionUser:
    return SessionUser(
        session_id=uuid4(),
        user_id=user.id,
        org_id=user.org_id,
        org_name="Acme",
        email=user.email,
        name=user.name,
        role=user.role,
    )


@pytest.fixture
async def org(hasher: Argon2Hasher) -> Org:
    uow = FakeUnitOfWork()
    created = await orgs.create_org(
        uow=uow, hasher=hasher, name="Acme", admin_email=ADMIN_EMAIL, admin_password=PASSWORD
    )
    uow.published.clear()
    return Org(uow=uow, admin=session_user(created.admin))


async def add_member(org: Org, hasher: Argon2Hasher, email: str, role: str = "member") -> User:
    return await users.create_user(
        uow=org.uow,
        hasher=hasher,
        actor=org.admin,
        email=email,
        name="Someone",
        role=role,
        password=PASSWORD,
    )


# Keys


async def test_a_created_key_is_stored_and_announced_with_the_digest_of_its_secret(
    org: Org,
) -> None:
    created = await keys.create_key(uow=org.uow, actor=org.admin, name=" deploy bot ")

    stored = org.uow.store.keys.rows[created.key.id]
    assert stored.name == "deploy bot"
    assert stored.created_by == org.admin.user_id
    assert org.uow.store.keys.digests[stored.id] == api_keys.digest(created.secret)
    # The org is locked before counting, so concurrent creates cannot both see room.
    assert org.uow.store.orgs.locked == [org.admin.org_id]
    [event] = org.uow.published
    assert isinstance(event, KeyCreated)
    assert event.org_id == org.admin.org_id
    assert event.payload.key_id == stored.id
    assert event.payload.digest == api_keys.digest(created.secret)


async def test_the_eleventh_active_key_is_refused_and_nothing_is_announced(org: Org) -> None:
    for n in range(MAX_ACTIVE_KEYS_PER_ORG):
        await keys.create_key(uow=org.uow, actor=org.admin, name=f"key {n}")

    with pytest.raises(KeyLimitReached):
        await keys.create_key(uow=org.uow, actor=org.admin, name="one too many")

    assert len(org.uow.store.keys.rows) == MAX_ACTIVE_KEYS_PER_ORG
    assert len(org.uow.published) == MAX_ACTIVE_KEYS_PER_ORG


async def test_revoked_and_expired_keys_leave_room_for_new_ones(org: Org) -> None:
    created = [
        await keys.create_key(uow=org.uow, actor=org.admin, name=f"key {n}")
        for n in range(MAX_ACTIVE_KEYS_PER_ORG)
    ]
    await keys.revoke_key(uow=org.uow, actor=org.admin, key_id=created[0].key.id)
    expired = created[1].key
    org.uow.store.keys.rows[expired.id] = replace(
        expired, expires_at=utc_now() - timedelta(seconds=1)
    )

    await keys.create_key(uow=org.uow, actor=org.admin, name="replacement 1")
    await keys.create_key(uow=org.uow, actor=org.admin, name="replacement 2")

    with pytest.raises(KeyLimitReached):
        await keys.create_key(uow=org.uow, actor=org.admin, name="one too many")


async def test_a_member_may_list_keys_but_not_create_them(org: Org, hasher: Argon2Hasher) -> None:
    member = session_user(await add_member(org, hasher, "member@acme.example"))
    org.uow.published.clear()

    with pytest.raises(PermissionDenied):
        await keys.create_key(uow=org.uow, actor=member, name="mine")

    assert org.uow.store.keys.rows == {}
    assert org.uow.published == []
    assert await keys.list_keys(uow=org.uow, actor=member) == []


async def test_listing_hides_revoked_keys_unless_asked(org: Org) -> None:
    kept = await keys.create_key(uow=org.uow, actor=org.admin, name="kept")
    gone = await keys.create_key(uow=org.uow, actor=org.admin, name="gone")
    await keys.revoke_key(uow=org.uow, actor=org.admin, key_id=gone.key.id)

    active = await keys.list_keys(uow=org.uow, actor=org.admin)
    everything = await keys.list_keys(uow=org.uow, actor=org.admin, include_revoked=True)

    assert [(k.key.id, k.status) for k in active] == [(kept.key.id, KeyStatus.ACTIVE)]
    assert {(k.key.id, k.status) for k in everything} == {
        (kept.key.id, KeyStatus.ACTIVE),
        (gone.key.id, KeyStatus.REVOKED),
    }


async def test_renaming_stores_the_name_and_announces_the_whole_key(org: Org) -> None:
    created = await keys.create_key(
        uow=org.uow, actor=org.admin, name="old", scopes=["incidents:read"]
    )
    org.uow.published.clear()

    listing = await keys.rename_key(uow=org.uow, actor=org.admin, key_id=created.key.id, name="new")

    assert listing.key.name == "new"
    assert org.uow.store.keys.rows[created.key.id].name == "new"
    [event] = org.uow.published
    assert isinstance(event, KeyRenamed)
    # A consumer that only ever sees this event (after compaction) still learns the whole key.
    assert event.payload.name == "new"
    assert event.payload.digest == api_keys.digest(created.secret)
    assert event.payload.scopes == created.key.scopes


async def test_renaming_to_the_same_name_announces_nothing(org: Org) -> None:
    created = await keys.create_key(uow=org.uow, actor=org.admin, name="same")
    org.uow.published.clear()

    await keys.rename_key(uow=org.uow, actor=org.admin, key_id=created.key.id, name=" same ")

    assert org.uow.published == []


async def test_a_revoked_key_cannot_be_renamed(org: Org) -> None:
    created = await keys.create_key(uow=org.uow, actor=org.admin, name="frozen")
    await keys.revoke_key(uow=org.uow, actor=org.admin, key_id=created.key.id)
    org.uow.published.clear()

    with pytest.raises(KeyAlreadyRevoked):
        await keys.rename_key(uow=org.uow, actor=org.admin, key_id=created.key.id, name="thawed")

    assert org.uow.store.keys.rows[created.key.id].name == "frozen"
    assert org.uow.published == []


async def test_revoking_twice_revokes_and_announces_once(org: Org) -> None:
    created = await keys.create_key(uow=org.uow, actor=org.admin, name="leaked")
    org.uow.published.clear()

    await keys.revoke_key(uow=org.uow, actor=org.admin, key_id=created.key.id)
    first_revocation = org.uow.store.keys.rows[created.key.id].revoked_at
    await keys.revoke_key(uow=org.uow, actor=org.admin, key_id=created.key.id)

    assert first_revocation is not None
    assert org.uow.store.keys.rows[created.key.id].revoked_at == first_revocation
    assert org.uow.store.keys.revoked_by[created.key.id] == org.admin.user_id
    [event] = org.uow.published
    assert isinstance(event, KeyRevoked)
    assert event.payload.key_id == created.key.id
    assert event.payload.revoked_at == first_revocation
    assert event.payload.revoked_by == org.admin.user_id


async def test_another_orgs_key_is_not_found(org: Org, hasher: Argon2Hasher) -> None:
    created = await keys.create_key(uow=org.uow, actor=org.admin, name="ours")
    other = await orgs.create_org(
        uow=org.uow, hasher=hasher, name="Other", admin_email=ADMIN_EMAIL, admin_password=PASSWORD
    )
    stranger = session_user(other.admin)
    org.uow.published.clear()

    with pytest.raises(NotFound):
        await keys.revoke_key(uow=org.uow, actor=stranger, key_id=created.key.id)
    with pytest.raises(NotFound):
        await keys.rename_key(uow=org.uow, actor=stranger, key_id=created.key.id, name="theirs")

    assert org.uow.store.keys.rows[created.key.id] == created.key
    assert org.uow.published == []


async def test_key_use_only_moves_last_used_forward(org: Org) -> None:
    created = await keys.create_key(uow=org.uow, actor=org.admin, name="busy")
    later = utc_now() + timedelta(minutes=5)
    org_id, key_id = org.admin.org_id, created.key.id

    assert await keys.record_key_use(uow=org.uow, org_id=org_id, key_id=key_id, used_at=later)
    earlier = later - timedelta(minutes=1)
    assert not await keys.record_key_use(uow=org.uow, org_id=org_id, key_id=key_id, used_at=earlier)

    assert org.uow.store.keys.rows[key_id].last_used_at == later


# Rotation


async def test_rotation_gives_the_same_key_a_new_secret_and_announces_both_digests(
    org: Org,
) -> None:
    created = await keys.create_key(
        uow=org.uow, actor=org.admin, name="deployer", scopes=["incidents:read"]
    )
    org.uow.published.clear()

    rotated = await keys.rotate_key(
        uow=org.uow, actor=org.admin, key_id=created.key.id, grace_period_minutes=45
    )

    assert rotated.key.id == created.key.id
    assert (rotated.key.name, rotated.key.scopes) == ("deployer", ("incidents:read",))
    assert rotated.secret != created.secret
    assert api_keys.is_well_formed(rotated.secret)
    assert rotated.key.hint == api_keys.hint(rotated.secret)
    [event] = org.uow.published
    assert isinstance(event, KeyRotated)
    p = event.payload
    assert p.digest == api_keys.digest(rotated.secret)
    assert p.previous_digest == api_keys.digest(created.secret)
    assert p.previous_valid_until is not None
    assert p.previous_valid_until == (p.rotated_at + timedelta(minutes=45))
    # The whole key, so a consumer that only sees this event after compaction has all of it.
    assert (p.name, p.scopes, p.created_at) == (
        "deployer",
        ("incidents:read",),
        created.key.created_at,
    )
    assert p.rotated_by == org.admin.user_id
    [listed] = await keys.list_keys(uow=org.uow, actor=org.admin)
    assert listed.in_grace
    assert listed.key.previous_valid_until == p.previous_valid_until


async def test_rotating_during_a_grace_period_ends_the_older_grace_at_once(org: Org) -> None:
    created = await keys.create_key(uow=org.uow, actor=org.admin, name="twice")
    first = await keys.rotate_key(uow=org.uow, actor=org.admin, key_id=created.key.id)
    org.uow.published.clear()

    second = await keys.rotate_key(uow=org.uow, actor=org.admin, key_id=created.key.id)

    [event] = org.uow.published
    assert isinstance(event, KeyRotated)
    # Two secrets live at most: the first rotation's new secret is now the replaced one, and the
    # original secret is gone from every event.
    assert event.payload.digest == api_keys.digest(second.secret)
    assert event.payload.previous_digest == api_keys.digest(first.secret)
    assert api_keys.digest(created.secret) not in event.model_dump_json()


async def test_rotation_without_grace_forgets_the_old_secret_and_a_rename_carries_the_grace(
    org: Org,
) -> None:
    created = await keys.create_key(uow=org.uow, actor=org.admin, name="now")
    await keys.rotate_key(
        uow=org.uow, actor=org.admin, key_id=created.key.id, grace_period_minutes=0
    )
    [_, no_grace] = org.uow.published
    assert isinstance(no_grace, KeyRotated)
    assert (no_grace.payload.previous_digest, no_grace.payload.previous_valid_until) == (None, None)
    [listed] = await keys.list_keys(uow=org.uow, actor=org.admin)
    assert not listed.in_grace

    await keys.rotate_key(uow=org.uow, actor=org.admin, key_id=created.key.id)
    org.uow.published.clear()
    await keys.rename_key(uow=org.uow, actor=org.admin, key_id=created.key.id, name="later")

    # Renamed during the grace period: on the compacted topic the rename may be all that is left.
    [renamed] = org.uow.published
    assert isinstance(renamed, KeyRenamed)
    assert renamed.payload.previous_digest is not None
    assert renamed.payload.previous_valid_until is not None


@pytest.mark.parametrize("minutes", [-1, 1441])
async def test_a_grace_period_outside_0_to_1440_minutes_is_refused(org: Org, minutes: int) -> None:
    created = await keys.create_key(uow=org.uow, actor=org.admin, name="k")
    org.uow.published.clear()

    with pytest.raises(InvalidInput, match="grace_period_minutes"):
        await keys.rotate_key(
            uow=org.uow, actor=org.admin, key_id=created.key.id, grace_period_minutes=minutes
        )

    assert org.uow.published == []
    assert org.uow.store.keys.digests[created.key.id] == api_keys.digest(created.secret)


async def test_revoked_and_expired_keys_cannot_be_rotated_and_members_may_not_rotate(
    org: Org, hasher: Argon2Hasher
) -> None:
    revoked = await keys.create_key(uow=org.uow, actor=org.admin, name="revoked")
    await keys.revoke_key(uow=org.uow, actor=org.admin, key_id=revoked.key.id)
    expired = await keys.create_key(uow=org.uow, actor=org.admin, name="expired")
    org.uow.store.keys.rows[expired.key.id] = replace(
        expired.key, expires_at=utc_now() - timedelta(seconds=1)
    )
    member = session_user(await add_member(org, hasher, "member@acme.example"))
    org.uow.published.clear()

    with pytest.raises(KeyAlreadyRevoked):
        await keys.rotate_key(uow=org.uow, actor=org.admin, key_id=revoked.key.id)
    with pytest.raises(KeyExpired):
        await keys.rotate_key(uow=org.uow, actor=org.admin, key_id=expired.key.id)
    with pytest.raises(PermissionDenied):
        await keys.rotate_key(uow=org.uow, actor=member, key_id=expired.key.id)
    assert org.uow.published == []


async def test_rotation_does_not_count_against_the_key_limit(org: Org) -> None:
    created = [
        await keys.create_key(uow=org.uow, actor=org.admin, name=f"key {n}")
        for n in range(MAX_ACTIVE_KEYS_PER_ORG)
    ]

    await keys.rotate_key(uow=org.uow, actor=org.admin, key_id=created[0].key.id)

    assert (
        await org.uow.store.keys.count_active(org.admin.org_id, utc_now())
        == MAX_ACTIVE_KEYS_PER_ORG
    )


async def test_the_old_secrets_use_after_the_rotation_is_recorded(org: Org) -> None:
    created = await keys.create_key(uow=org.uow, actor=org.admin, name="machine")
    before = utc_now()
    await keys.rotate_key(uow=org.uow, actor=org.admin, key_id=created.key.id)
    used = utc_now() + timedelta(seconds=1)

    # A use reported late from before the rotation says nothing about machines on the old secret.
    await keys.record_key_use(
        uow=org.uow,
        org_id=org.admin.org_id,
        key_id=created.key.id,
        used_at=before - timedelta(seconds=1),
        previous_secret=True,
    )
    assert org.uow.store.keys.rows[created.key.id].previous_used_at is None
    await keys.record_key_use(
        uow=org.uow,
        org_id=org.admin.org_id,
        key_id=created.key.id,
        used_at=used,
        previous_secret=True,
    )

    [listed] = await keys.list_keys(uow=org.uow, actor=org.admin)
    assert listed.key.previous_used_at == used
    assert listed.key.last_used_at == used


# Secret scanning


class FakeVerifier:
    def __init__(self) -> None:
        self.good = True

    def verify(self, body: bytes, key_identifier: str | None, signature: str | None) -> bool:
        return self.good and signature == "signed"


def report(*tokens: str) -> bytes:
    return json.dumps(
        [
            {
                "token": t,
                "type": "fireline_api_key",
                "url": f"https://github.com/a/b#{n}",
                "source": "content",
            }
            for n, t in enumerate(tokens)
        ]
    ).encode()


async def scan(org: Org, body: bytes, signature: str = "signed") -> dict[str, str]:
    verdicts = await secret_scanning.handle_report(
        uow=org.uow, verifier=FakeVerifier(), body=body, key_identifier="k1", signature=signature
    )
    return {v.token.token: v.label.value for v in verdicts}


async def test_a_report_revokes_exactly_the_live_keys_and_labels_every_token(org: Org) -> None:
    live = await keys.create_key(uow=org.uow, actor=org.admin, name="live")
    dead = await keys.create_key(uow=org.uow, actor=org.admin, name="dead")
    await keys.revoke_key(uow=org.uow, actor=org.admin, key_id=dead.key.id)
    random_but_valid = api_keys.generate()
    bad_checksum = live.secret[:-1] + ("A" if live.secret[-1] != "A" else "B")
    org.uow.published.clear()

    labels = await scan(org, report(live.secret, dead.secret, random_but_valid, bad_checksum))

    assert labels == {
        live.secret: "true_positive",
        dead.secret: "true_positive",
        random_but_valid: "false_positive",
        bad_checksum: "false_positive",
    }
    [event] = org.uow.published
    assert isinstance(event, KeyRevoked)
    assert event.payload.key_id == live.key.id
    assert (event.payload.reason, event.payload.revoked_by) == ("leaked", None)
    assert event.payload.report_url == "https://github.com/a/b#0"
    stored = org.uow.store.keys.rows[live.key.id]
    assert stored.revoked_reason is RevocationReason.LEAKED
    assert stored.revoked_report_url == "https://github.com/a/b#0"
    # Reported again: nothing changes.
    org.uow.published.clear()
    assert await scan(org, report(live.secret, dead.secret, random_but_valid)) == {
        live.secret: "true_positive",
        dead.secret: "true_positive",
        random_but_valid: "false_positive",
    }
    assert org.uow.published == []
    assert org.uow.store.keys.rows[live.key.id].revoked_at == stored.revoked_at


async def test_a_replaced_secret_revokes_the_key_only_while_its_grace_lasts(org: Org) -> None:
    in_grace = await keys.create_key(uow=org.uow, actor=org.admin, name="in grace")
    await keys.rotate_key(uow=org.uow, actor=org.admin, key_id=in_grace.key.id)
    over = await keys.create_key(uow=org.uow, actor=org.admin, name="grace over")
    await keys.rotate_key(uow=org.uow, actor=org.admin, key_id=over.key.id, grace_period_minutes=1)
    ended = utc_now() - timedelta(seconds=1)
    org.uow.store.keys.rows[over.key.id] = replace(
        org.uow.store.keys.rows[over.key.id], previous_valid_until=ended
    )
    org.uow.published.clear()

    labels = await scan(org, report(in_grace.secret, over.secret))

    assert labels == {in_grace.secret: "true_positive", over.secret: "true_positive"}
    assert [e.payload.key_id for e in org.uow.published if isinstance(e, KeyRevoked)] == [
        in_grace.key.id
    ]
    assert org.uow.store.keys.rows[over.key.id].revoked_at is None


@pytest.mark.parametrize(
    ("body", "signature", "error"),
    [
        (b"[]", "forged", ReportRefused),
        (b"{not json", "signed", ReportInvalid),
        (b'{"token": "flk_x"}', "signed", ReportInvalid),
        (b'[{"token": 7, "type": "x"}]', "signed", ReportInvalid),
        (b'[{"type": "x"}]', "signed", ReportInvalid),
    ],
)
async def test_unsigned_or_malformed_reports_change_nothing(
    org: Org, body: bytes, signature: str, error: type[Exception]
) -> None:
    live = await keys.create_key(uow=org.uow, actor=org.admin, name="live")
    org.uow.published.clear()

    with pytest.raises(error):
        await scan(org, body.replace(b"flk_x", live.secret.encode()), signature=signature)
    with pytest.raises(ReportRefused):
        await scan(org, report(live.secret), signature="forged")

    assert org.uow.published == []
    assert org.uow.store.keys.rows[live.key.id].revoked_at is None


async def test_too_many_tokens_in_one_report_are_refused_before_any_lookup(org: Org) -> None:
    live = await keys.create_key(uow=org.uow, actor=org.admin, name="live")
    org.uow.published.clear()

    with pytest.raises(ReportInvalid, match="at most"):
        await scan(org, report(live.secret, *["flk_x"] * MAX_REPORT_TOKENS))

    assert org.uow.store.keys.rows[live.key.id].revoked_at is None


# Orgs and users


async def test_the_default_org_is_created_only_when_there_is_no_org(
    hasher: Argon2Hasher,
) -> None:
    uow = FakeUnitOfWork()
    first = await orgs.bootstrap_default_org(
        uow=uow, hasher=hasher, admin_email=ADMIN_EMAIL, admin_password=PASSWORD
    )
    second = await orgs.bootstrap_default_org(
        uow=uow, hasher=hasher, admin_email="other@acme.example", admin_password=PASSWORD
    )

    assert first is not None
    assert second is None
    assert list(uow.store.orgs.names.values()) == [orgs.DEFAULT_ORG_NAME]
    assert [u.role for u, _ in uow.store.users.rows.values()] == [Role.ADMIN]
    [event] = uow.published
    assert isinstance(event, UserCreated)
    assert event.payload.user_id == first.admin.id


async def test_an_org_name_in_use_rolls_back_the_admin_too(org: Org, hasher: Argon2Hasher) -> None:
    with pytest.raises(OrgNameTaken):
        await orgs.create_org(
            uow=org.uow,
            hasher=hasher,
            name="ACME",
            admin_email="second@acme.example",
            admin_password=PASSWORD,
        )

    assert len(org.uow.store.users.rows) == 1
    assert org.uow.published == []


async def test_a_created_user_is_stored_and_announced(org: Org, hasher: Argon2Hasher) -> None:
    user = await add_member(org, hasher, " Ann@Acme.example ")

    stored, password_hash = org.uow.store.users.rows[user.id]
    assert stored == user
    assert stored.email == "Ann@Acme.example"
    assert stored.org_id == org.admin.org_id
    assert await hasher.verify(password_hash, PASSWORD)
    [event] = org.uow.published
    assert isinstance(event, UserCreated)
    assert (event.payload.user_id, event.payload.role) == (user.id, "member")


async def test_an_email_taken_in_the_org_is_refused_in_any_case(
    org: Org, hasher: Argon2Hasher
) -> None:
    with pytest.raises(EmailTaken):
        await add_member(org, hasher, ADMIN_EMAIL.upper())

    assert len(org.uow.store.users.rows) == 1
    assert org.uow.published == []


async def test_the_last_active_admin_can_be_neither_demoted_nor_deactivated(org: Org) -> None:
    admin_id = org.admin.user_id
    before = org.uow.store.users.rows[admin_id]

    with pytest.raises(LastAdmin):
        await users.update_user(uow=org.uow, actor=org.admin, user_id=admin_id, role="member")
    with pytest.raises(LastAdmin):
        await users.update_user(uow=org.uow, actor=org.admin, user_id=admin_id, active=False)

    assert org.uow.store.users.rows[admin_id] == before
    assert org.uow.published == []


async def test_with_a_second_admin_the_first_may_step_down(org: Org, hasher: Argon2Hasher) -> None:
    await add_member(org, hasher, "second@acme.example", role="admin")
    org.uow.published.clear()

    after = await users.update_user(
        uow=org.uow, actor=org.admin, user_id=org.admin.user_id, role="member"
    )

    assert after.role is Role.MEMBER
    assert org.uow.store.users.rows[after.id][0].role is Role.MEMBER
    [event] = org.uow.published
    assert isinstance(event, UserUpdated)
    assert event.payload.role == "member"


async def test_deactivating_a_user_ends_their_sessions(org: Org, hasher: Argon2Hasher) -> None:
    member = await add_member(org, hasher, "leaver@acme.example")
    login = await log_in(org, hasher, "leaver@acme.example")
    org.uow.published.clear()

    await users.update_user(uow=org.uow, actor=org.admin, user_id=member.id, active=False)

    with pytest.raises(Unauthenticated):
        await sessions.authenticate(uow=org.uow, policy=POLICY, token=login.token)
    deactivated, ended = org.uow.published
    assert isinstance(deactivated, UserDeactivated)
    assert deactivated.payload.user_id == member.id
    assert deactivated.payload.changed_by == org.admin.user_id
    # The audit log shows the session ending too, caused by the admin.
    assert isinstance(ended, SessionRevoked)
    assert ended.payload.user_id == member.id
    assert ended.payload.reason == "user_deactivated"
    assert ended.payload.revoked_by == org.admin.user_id


# Sessions and login


async def log_in(
    org: Org,
    hasher: Argon2Hasher,
    email: str = ADMIN_EMAIL,
    password: str = PASSWORD,
    address: str = "192.0.2.1",
) -> sessions.LoginResult:
    return await sessions.log_in(
        uow=org.uow,
        hasher=hasher,
        policy=POLICY,
        email=email,
        password=password,
        address=address,
    )


async def test_a_login_opens_a_session_the_token_authenticates(
    org: Org, hasher: Argon2Hasher
) -> None:
    result = await log_in(org, hasher, email=" admin@ACME.example ")

    caller = await sessions.authenticate(uow=org.uow, policy=POLICY, token=result.token)

    assert caller.user_id == org.admin.user_id
    assert caller.session_id == result.user.session_id
    assert caller.org_name == "Acme"
    [row] = org.uow.store.sessions.rows.values()
    assert row.expires_at == result.expires_at
    assert row.expires_at - row.last_seen_at == POLICY.absolute_timeout
    # The provisional failure is removed again and the address is remembered.
    assert org.uow.store.login_failures.failures == {}
    assert ("admin@acme.example", "192.0.2.1") in org.uow.store.login_failures.known


async def test_a_wrong_password_and_an_unknown_email_fail_alike(
    org: Org, hasher: Argon2Hasher
) -> None:
    with pytest.raises(InvalidCredentials):
        await log_in(org, hasher, password="not the password at all")
    with pytest.raises(InvalidCredentials):
        await log_in(org, hasher, email="nobody@acme.example")

    assert org.uow.store.sessions.rows == {}
    # Both attempts stay counted as failures (the first transaction committed them).
    assert sorted(a for a, _, _ in org.uow.store.login_failures.failures.values()) == [
        "admin@acme.example",
        "nobody@acme.example",
    ]


async def test_five_failures_from_one_address_refuse_even_the_right_password(
    org: Org, hasher: Argon2Hasher
) -> None:
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            await log_in(org, hasher, password="a wrong guess!")

    with pytest.raises(TooManyAttempts) as refused:
        await log_in(org, hasher)

    assert refused.value.retry_after_s > 0
    assert org.uow.store.sessions.rows == {}
    # The owner elsewhere is not locked out.
    elsewhere = await log_in(org, hasher, address="198.51.100.7")
    assert elsewhere.user.user_id == org.admin.user_id


async def test_a_logged_out_session_no_longer_authenticates(org: Org, hasher: Argon2Hasher) -> None:
    result = await log_in(org, hasher)

    await sessions.log_out(uow=org.uow, token=result.token)

    with pytest.raises(Unauthenticated):
        await sessions.authenticate(uow=org.uow, policy=POLICY, token=result.token)


async def test_no_token_and_an_unknown_token_are_unauthenticated(org: Org) -> None:
    with pytest.raises(Unauthenticated):
        await sessions.authenticate(uow=org.uow, policy=POLICY, token=None)
    with pytest.raises(Unauthenticated):
        await sessions.authenticate(uow=org.uow, policy=POLICY, token="made-up")


# Events for the audit log: logins and ended sessions


async def test_logins_announce_success_and_failure_with_the_address_never_the_password(
    org: Org, hasher: Argon2Hasher
) -> None:
    with pytest.raises(InvalidCredentials):
        await log_in(org, hasher, password="not the password at all", address="203.0.113.9")
    with pytest.raises(InvalidCredentials):
        await log_in(org, hasher, email="nobody@acme.example")
    result = await log_in(org, hasher, address="192.0.2.44")

    # The unknown email belongs to no org: nothing to announce for it.
    failed, succeeded = org.uow.published
    assert isinstance(failed, LoginFailed)
    assert (failed.payload.user_id, failed.payload.address) == (org.admin.user_id, "203.0.113.9")
    assert isinstance(succeeded, LoginSucceeded)
    assert succeeded.payload.session_id == result.user.session_id
    assert succeeded.payload.address == "192.0.2.44"
    for event in (failed, succeeded):
        assert "not the password" not in event.model_dump_json()
        assert PASSWORD not in event.model_dump_json()
        assert result.token not in event.model_dump_json()


async def test_logging_out_announces_the_revoked_session_once(
    org: Org, hasher: Argon2Hasher
) -> None:
    result = await log_in(org, hasher)
    org.uow.published.clear()

    await sessions.log_out(uow=org.uow, token=result.token)
    await sessions.log_out(uow=org.uow, token=result.token)

    [event] = org.uow.published
    assert isinstance(event, SessionRevoked)
    assert event.payload.session_id == result.user.session_id
    assert event.payload.reason == "logout"
    assert event.payload.revoked_by == org.admin.user_id


# The audit log


async def _record_all(org: Org) -> None:
    for event in org.uow.published:
        await audit.record(uow=org.uow, event=event)


async def test_events_become_entries_once_and_without_secrets(
    org: Org, hasher: Argon2Hasher
) -> None:
    created = await keys.create_key(uow=org.uow, actor=org.admin, name="deployer")
    await keys.revoke_key(uow=org.uow, actor=org.admin, key_id=created.key.id)
    await _record_all(org)
    await _record_all(org)  # a redelivery adds nothing

    page = await audit.read_page(
        uow=org.uow, actor=org.admin, where=AuditFilter(), cursor=None, limit=10
    )

    assert [e.action for e in page.entries] == [AuditAction.KEY_REVOKED, AuditAction.KEY_CREATED]
    assert {e.actor for e in page.entries} == {Actor(ActorType.USER, org.admin.user_id)}
    assert {e.target for e in page.entries} == {Target("key", created.key.id)}
    details = page.entries[1].details
    assert details is not None
    assert details["name"] == "deployer"
    assert set(details) == {"name", "scopes", "expires_at"}
    text = repr(page.entries)
    assert created.secret not in text
    assert api_keys.digest(created.secret) not in text
    assert page.next_cursor is None


async def test_pages_follow_the_cursor_newest_first_and_filters_narrow(
    org: Org, hasher: Argon2Hasher
) -> None:
    made = [
        (await keys.create_key(uow=org.uow, actor=org.admin, name=f"k{i}")).key.id for i in range(5)
    ]
    await _record_all(org)

    first = await audit.read_page(
        uow=org.uow, actor=org.admin, where=AuditFilter(), cursor=None, limit=3
    )
    assert first.next_cursor is not None
    second = await audit.read_page(
        uow=org.uow, actor=org.admin, where=AuditFilter(), cursor=first.next_cursor, limit=3
    )
    seen = [e.target.id for e in first.entries + second.entries]
    assert sorted(seen) == sorted(made)
    assert second.next_cursor is None
    times = [e.occurred_at for e in first.entries + second.entries]
    assert times == sorted(times, reverse=True)

    only = AuditFilter.parse(target=str(made[2]), action="key.created")
    narrowed = await audit.read_page(
        uow=org.uow, actor=org.admin, where=only, cursor=None, limit=10
    )
    assert [e.target.id for e in narrowed.entries] == [made[2]]


async def test_a_cursor_works_only_for_the_org_and_filters_it_was_issued_for(
    org: Org, hasher: Argon2Hasher
) -> None:
    for i in range(3):
        await keys.create_key(uow=org.uow, actor=org.admin, name=f"k{i}")
    await _record_all(org)
    first = await audit.read_page(
        uow=org.uow, actor=org.admin, where=AuditFilter(), cursor=None, limit=1
    )
    assert first.next_cursor is not None

    other_filters = AuditFilter.parse(action="key.revoked")
    with pytest.raises(InvalidInput) as refused:
        await audit.read_page(
            uow=org.uow, actor=org.admin, where=other_filters, cursor=first.next_cursor, limit=1
        )
    assert refused.value.field == "cursor"
    stranger = replace(org.admin, org_id=uuid4())
    with pytest.raises(InvalidInput):
        await audit.read_page(
            uow=org.uow, actor=stranger, where=AuditFilter(), cursor=first.next_cursor, limit=1
        )
    with pytest.raises(InvalidInput):
        await audit.read_page(
            uow=org.uow, actor=org.admin, where=AuditFilter(), cursor="garbage!", limit=1
        )


@pytest.mark.parametrize(
    ("field", "filters"),
    [
        ("action", {"action": "key.exploded"}),
        ("actor", {"actor": "mallory"}),
        ("target", {"target": "not-an-id"}),
        ("since", {"since": utc_now(), "until": utc_now() - timedelta(days=1)}),
    ],
)
def test_bad_filters_are_refused_by_name(field: str, filters: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as refused:
        AuditFilter.parse(**filters)
    assert refused.value.field == field


async def test_members_may_not_read_the_audit_log(org: Org, hasher: Argon2Hasher) -> None:
    member = session_user(await add_member(org, hasher, "reader@acme.example"))

    with pytest.raises(PermissionDenied):
        await audit.read_page(uow=org.uow, actor=member, where=AuditFilter(), cursor=None, limit=10)
    with pytest.raises(PermissionDenied):
        await audit.export(uow_factory=lambda: org.uow, actor=member, where=AuditFilter())


async def test_the_export_streams_every_entry_newest_first(
    org: Org, hasher: Argon2Hasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "EXPORT_BATCH", 2)
    for i in range(5):
        await keys.create_key(uow=org.uow, actor=org.admin, name=f"k{i}")
    await _record_all(org)

    stream = await audit.export(uow_factory=lambda: org.uow, actor=org.admin, where=AuditFilter())
    exported = [entry async for entry in stream]

    assert len(exported) == 5
    assert [e.occurred_at for e in exported] == sorted(
        (e.occurred_at for e in exported), reverse=True
    )


async def test_retention_deletes_only_entries_past_it(org: Org, hasher: Argon2Hasher) -> None:
    await keys.create_key(uow=org.uow, actor=org.admin, name="recent")
    await _record_all(org)
    [recent] = org.uow.store.audit.entries.values()
    old = replace(recent, id=uuid4(), occurred_at=utc_now() - timedelta(days=400))
    await org.uow.store.audit.append(old)

    more = await audit.prune(uow=org.uow, retention=timedelta(days=365))

    assert more is False
    assert list(org.uow.store.audit.entries) == [recent.id]


def test_leaked_revocations_and_rotations_name_their_actor_and_no_digest() -> None:
    org_id, key_id, admin_id, now = uuid4(), uuid4(), uuid4(), utc_now()
    digest = api_keys.digest(api_keys.generate())
    leaked = KeyRevoked(
        org_id=org_id,
        payload=KeyRevokedPayload(
            key_id=key_id,
            revoked_at=now,
            reason="leaked",
            report_url="https://github.com/acme/app/blob/main/.env",
        ),
    )
    rotated = KeyRotated(
        org_id=org_id,
        payload=KeyRotatedPayload(
            key_id=key_id,
            name="ci",
            digest=digest,
            scopes=("incidents:read",),
            created_at=now,
            previous_digest=api_keys.digest(api_keys.generate()),
            previous_valid_until=now + timedelta(hours=1),
            rotated_at=now,
            rotated_by=admin_id,
        ),
    )

    revoked_entry, rotated_entry = entry_for(leaked), entry_for(rotated)

    assert revoked_entry is not None
    assert rotated_entry is not None
    assert revoked_entry.actor == Actor(ActorType.SECRET_SCANNER)
    assert revoked_entry.details == {
        "reason": "leaked",
        "report_url": "https://github.com/acme/app/blob/main/.env",
    }
    assert (rotated_entry.action, rotated_entry.actor) == (
        AuditAction.KEY_ROTATED,
        Actor(ActorType.USER, admin_id),
    )
    assert digest not in repr(rotated_entry)
    assert str(rotated.payload.previous_digest) not in repr(rotated_entry)


WATERMARK_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class FakeKeysTopic:
    def __init__(self, partitions: int | None) -> None:
        self.count = partitions

    async def partitions(self) -> int | None:
        return self.count

    def route(self, partition: int, partitions: int) -> str:
        return f"route-{partition}-of-{partitions}"


async def test_a_watermark_goes_to_every_partition_of_the_keys_topic() -> None:
    uow = FakeUnitOfWork()
    await watermarks.write_watermarks(uow, FakeKeysTopic(3), lambda: WATERMARK_AT)
    sent = [e for e in uow.published if isinstance(e, KeysWatermark)]
    assert [(w.payload.partition, w.payload.partitions, w.kafka_key) for w in sent] == [
        (p, 3, f"route-{p}-of-3") for p in range(3)
    ]
    assert {w.payload.as_of for w in sent} == {WATERMARK_AT}


async def test_new_watermarks_replace_those_an_outage_left_unsent() -> None:
    uow = FakeUnitOfWork()
    stale = KeysWatermark(
        org_id=watermarks.NO_ORG,
        payload=KeysWatermarkPayload(
            partition=0, partitions=1, as_of=WATERMARK_AT - timedelta(minutes=5), route="r"
        ),
    )
    uow.store.keys.unsent_watermarks.append(stale)
    await watermarks.write_watermarks(uow, FakeKeysTopic(1), lambda: WATERMARK_AT)
    assert uow.store.keys.unsent_watermarks == []
    assert [e.payload.as_of for e in uow.published if isinstance(e, KeysWatermark)] == [
        WATERMARK_AT
    ]


async def test_no_watermark_is_written_while_the_topic_is_unknown() -> None:
    unknown = FakeUnitOfWork()
    await watermarks.write_watermarks(unknown, FakeKeysTopic(None), lambda: WATERMARK_AT)
    assert unknown.published == []
