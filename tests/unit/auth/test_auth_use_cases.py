"""The auth use cases against an in-memory unit of work: exchange, signing keys, projection.

The fakes keep the rules the SQL keeps (order-safe projection upserts, one usage announcement per
interval, signing keys by activation), so these tests assert what a caller would see: tokens that
verify, keys refused, events published, keys created, rotated and deleted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import jwt
import pytest

from fireline_auth.adapters.key_cache import CachedKeys
from fireline_auth.adapters.keyring import KeyRing
from fireline_auth.adapters.rate_limit import SlidingWindowLimiter
from fireline_auth.domain.client_auth import ClientCredentials
from fireline_auth.domain.errors import (
    ClientAuthMethod,
    InvalidClient,
    InvalidScope,
    RateLimited,
    RevocationsUnavailable,
    SigningUnavailable,
    UnsupportedGrantType,
)
from fireline_auth.domain.keys import ApiKey, KeyChange
from fireline_auth.domain.signing import StoredSigningKey
from fireline_auth.domain.tokens import IssuedToken
from fireline_auth.service_layer import exchange, introspection, projection, signing_keys
from fireline_auth.service_layer.authentication import ADDRESS
from fireline_auth.service_layer.context import AuthContext, TokenPolicy
from fireline_auth.service_layer.exchange_failures import report_failures
from fireline_contracts import (
    KEY_EXCHANGE_FAILURES,
    KEY_USAGE,
    KeyCreated,
    KeyCreatedPayload,
    KeyExchangeFailed,
    KeyRenamed,
    KeyRenamedPayload,
    KeyRevoked,
    KeyRevokedPayload,
    KeyRotated,
    KeyRotatedPayload,
    KeyUsed,
    KeyUsedPayload,
    api_keys,
)
from fireline_contracts.scopes import INCIDENTS_READ, INCIDENTS_WRITE
from fireline_runtime.jose import Algorithm
from fireline_runtime.keys_view import KeysView
from fireline_runtime.secret_box import SecretBox
from support import fake_uow

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ORG = uuid4()
LIMIT = 3
ADDRESS_LIMIT = 2 * LIMIT
USAGE_INTERVAL_S = 60.0
PUBLISH_AHEAD = timedelta(seconds=120)
RETENTION = timedelta(hours=1)
ROTATION_PERIOD = timedelta(days=30)
ALGORITHM = Algorithm.ES256  # the cheapest to generate of the two the gateways accept


# --- in-memory storage ---------------------------------------------------------------------------


@dataclass
class KeyRow:
    org_id: UUID
    name: str | None = None
    name_event_at: datetime | None = None
    digest: str | None = None
    scopes: tuple[str, ...] = ()
    expires_at: datetime | None = None
    created_at: datetime | None = None
    revoked_at: datetime | None = None
    previous_digest: str | None = None
    previous_valid_until: datetime | None = None
    secret_event_at: datetime | None = None


class FakeApiKeys:
    """The ``api_keys`` upserts' rules: any event may come first, columns only move forward."""

    def __init__(self) -> None:
        self.rows: dict[UUID, KeyRow] = {}

    async def apply_renamed(self, change: KeyChange) -> None:
        key_id, name, event_at, state = change.key_id, change.name, change.event_at, change.state
        row = self.rows.setdefault(key_id, KeyRow(org_id=change.org_id))
        if row.digest is None and state is not None:
            row.scopes = state.scopes
            row.expires_at = state.expires_at
            row.created_at = state.created_at
        newer = row.secret_event_at is None or row.secret_event_at < event_at
        if state is not None and (row.digest is None or newer):
            row.digest = state.digest
            row.previous_digest = state.previous_digest
            row.previous_valid_until = state.previous_valid_until
            row.secret_event_at = event_at
        if row.name_event_at is None or row.name_event_at < event_at:
            row.name, row.name_event_at = name, event_at

    async def apply_revoked(
        self, *, key_id: UUID, org_id: UUID, revoked_at: datetime, event_at: datetime
    ) -> None:
        row = self.rows.setdefault(key_id, KeyRow(org_id=org_id))
        row.revoked_at = row.revoked_at or revoked_at

    async def get(self, key_id: UUID) -> ApiKey | None:
        row = self.rows.get(key_id)
        return None if row is None else _api_key(key_id, row)

    async def find_by_digest(self, digest: str) -> ApiKey | None:
        for key_id, row in self.rows.items():
            if digest in (row.digest, row.previous_digest):
                return _api_key(key_id, row)
        return None


def _api_key(key_id: UUID, row: KeyRow) -> ApiKey:
    return ApiKey(
        key_id=key_id,
        org_id=row.org_id,
        name=row.name,
        digest=row.digest,
        scopes=row.scopes,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        previous_digest=row.previous_digest,
        previous_valid_until=row.previous_valid_until,
    )


class FakeSigningKeys(fake_uow.GuardedRepository["Tables"]):
    """A view over the store's signing keys; its lock is a write, so it needs the transaction."""

    async def lock(self) -> None:
        self.writing().signing_key_locks += 1

    async def list_all(self) -> list[StoredSigningKey]:
        rows = self.store.signing_keys.values()
        return sorted(rows, key=lambda s: (s.info.activates_at, s.info.created_at))

    async def insert(self, key: StoredSigningKey) -> None:
        rows = self.writing().signing_keys
        assert key.info.kid not in rows
        rows[key.info.kid] = key

    async def delete(self, kids: Sequence[str]) -> None:
        rows = self.writing().signing_keys
        for kid in kids:
            rows.pop(kid, None)


class FakeKeyUsage:
    def __init__(self) -> None:
        self.marks: dict[tuple[UUID, bool], datetime] = {}
        self.fail = False

    async def claim_emission(
        self, *, key_id: UUID, now: datetime, interval_s: float, previous_secret: bool = False
    ) -> bool:
        if self.fail:
            raise ConnectionError("the database went away")
        last = self.marks.get((key_id, previous_secret))
        if last is not None and last > now - timedelta(seconds=interval_s):
            return False
        self.marks[(key_id, previous_secret)] = now
        return True


@dataclass
class Tables:
    api_keys: FakeApiKeys = field(default_factory=FakeApiKeys)
    key_usage: FakeKeyUsage = field(default_factory=FakeKeyUsage)
    signing_keys: dict[str, StoredSigningKey] = field(default_factory=dict)
    signing_key_locks: int = 0


AuthEvent = KeyUsed | KeyExchangeFailed
FakeDatabase = fake_uow.FakeDatabase[Tables, AuthEvent]


class FakeUnitOfWork(fake_uow.FakeUnitOfWork[Tables, AuthEvent]):
    def __init__(self, db: FakeDatabase) -> None:
        super().__init__(db)
        self._signing_keys = FakeSigningKeys(self)

    @property
    def api_keys(self) -> FakeApiKeys:
        return self.bound.api_keys

    @property
    def signing_keys(self) -> FakeSigningKeys:
        return self._signing_keys

    @property
    def key_usage(self) -> FakeKeyUsage:
        return self.bound.key_usage


# --- fixtures and helpers ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Auth:
    db: FakeDatabase
    ctx: AuthContext
    clock: Clock

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.db)

    @property
    def tables(self) -> Tables:
        return self.db.store

    @property
    def entered(self) -> int:
        """Units of work entered, to read or to write: what a round trip would cost."""
        return self.db.transactions + self.db.reads

    @property
    def uses_announced(self) -> list[KeyUsed]:
        return [e for e in self.db.published_on(KEY_USAGE) if isinstance(e, KeyUsed)]

    @property
    def failures_reported(self) -> list[KeyExchangeFailed]:
        reported = self.db.published_on(KEY_EXCHANGE_FAILURES)
        return [e for e in reported if isinstance(e, KeyExchangeFailed)]


@pytest.fixture
async def auth() -> Auth:
    db = FakeDatabase(Tables(), topics=(KEY_USAGE, KEY_EXCHANGE_FAILURES))
    clock = Clock()
    box = SecretBox(os.urandom(32))

    def uow() -> FakeUnitOfWork:
        return FakeUnitOfWork(db)

    keys = CachedKeys(uow)
    keys.cache.listening = True  # as when its LISTEN connection is up
    ctx = AuthContext(
        uow=uow,
        box=box,
        keyring=KeyRing(box, lambda: RETENTION),
        limiter=SlidingWindowLimiter(
            limit=LIMIT, window_s=60, limits_by_kind={ADDRESS: ADDRESS_LIMIT}
        ),
        policy=TokenPolicy(
            issuer="https://auth.fireline.test",
            audience="fireline",
            lifetime_s=900,
            key_usage_interval_s=USAGE_INTERVAL_S,
            publish_ahead_s=PUBLISH_AHEAD.total_seconds(),
            rotation_period_s=ROTATION_PERIOD.total_seconds(),
            signing_algorithm=ALGORITHM,
            algorithm_chosen_at=clock(),
        ),
        keys=keys,
        clock=clock,
    )
    assert await signing_keys.ensure_signing_key(uow(), box=box, algorithm=ALGORITHM, now=clock())
    await signing_keys.load_signing_keys(uow(), ctx.keyring)
    return Auth(db, ctx, clock)


@dataclass(frozen=True)
class IssuedKey:
    key_id: UUID
    secret: str


async def create_key(
    auth: Auth,
    *,
    scopes: tuple[str, ...] = (INCIDENTS_READ, INCIDENTS_WRITE),
    expires_at: datetime | None = None,
    org_id: UUID = ORG,
) -> IssuedKey:
    secret = api_keys.generate()
    key_id = uuid4()
    event = KeyCreated(
        org_id=org_id,
        occurred_at=auth.clock(),
        payload=KeyCreatedPayload(
            key_id=key_id,
            name="ci",
            digest=api_keys.digest(secret),
            scopes=scopes,
            expires_at=expires_at,
            created_by=None,
            created_at=auth.clock(),
        ),
    )
    await projection.apply_key_event(auth.uow(), event)
    return IssuedKey(key_id, secret)


def revoked(key_id: UUID, *, at: datetime, org_id: UUID = ORG) -> KeyRevoked:
    return KeyRevoked(
        org_id=org_id,
        occurred_at=at,
        payload=KeyRevokedPayload(key_id=key_id, revoked_at=at, revoked_by=None),
    )


def credentials(key_id: UUID | str, secret: str) -> ClientCredentials:
    return ClientCredentials(
        client_id=str(key_id), client_secret=secret, method=ClientAuthMethod.BASIC
    )


async def exchange_key(
    auth: Auth,
    key_id: UUID | str,
    secret: str,
    *,
    scope: str | None = None,
    address: str = "198.51.100.7",
) -> IssuedToken:
    return await exchange.exchange_client_credentials(
        ctx=auth.ctx,
        grant_type="client_credentials",
        credentials=credentials(key_id, secret),
        scope=scope,
        client_address=address,
    )


# --- exchange ------------------------------------------------------------------------------------


async def test_a_valid_key_buys_a_token_that_verifies_and_its_use_is_announced(
    auth: Auth,
) -> None:
    key = await create_key(auth)

    issued = await exchange_key(auth, key.key_id, key.secret)

    principal = await introspection.local_verifier(auth.ctx).verify(issued.access_token)
    assert principal.key_id == str(key.key_id)
    assert principal.org_id == ORG
    assert principal.scopes == {INCIDENTS_READ, INCIDENTS_WRITE}
    assert issued.scope == f"{INCIDENTS_READ} {INCIDENTS_WRITE}"
    assert issued.expires_in == 900
    assert issued.kid == auth.ctx.keyring.keys[0].kid
    [used] = auth.uses_announced
    assert used.org_id == ORG
    assert used.payload == KeyUsedPayload(key_id=key.key_id, used_at=T0)


async def test_a_cached_key_announced_recently_is_exchanged_without_the_database(
    auth: Auth,
) -> None:
    key = await create_key(auth)
    await exchange_key(auth, key.key_id, key.secret)
    entered = auth.entered

    auth.clock.now = T0 + timedelta(seconds=USAGE_INTERVAL_S / 2)
    await exchange_key(auth, key.key_id, key.secret)

    assert auth.entered == entered, "no unit of work: the key and its announcement in memory"
    assert len(auth.uses_announced) == 1


async def test_use_is_announced_again_once_the_interval_has_passed(auth: Auth) -> None:
    key = await create_key(auth)
    await exchange_key(auth, key.key_id, key.secret)
    # Another replica's process memory: it has not seen the announcement, the marks have.
    auth.ctx.usage_seen.clear()
    await exchange_key(auth, key.key_id, key.secret)
    assert len(auth.uses_announced) == 1

    auth.clock.now = T0 + timedelta(seconds=USAGE_INTERVAL_S)
    await exchange_key(auth, key.key_id, key.secret)

    assert [e.payload.used_at for e in auth.uses_announced] == [T0, auth.clock.now]


async def test_a_failure_to_record_use_does_not_cost_the_token(auth: Auth) -> None:
    key = await create_key(auth)
    auth.tables.key_usage.fail = True

    issued = await exchange_key(auth, key.key_id, key.secret)

    assert (await introspection.local_verifier(auth.ctx).verify(issued.access_token)).key_id
    assert auth.uses_announced == []
    assert (key.key_id, False) not in auth.ctx.usage_seen, "tried again on the next exchange"


# --- rotation ------------------------------------------------------------------------------------


async def rotate_key(
    auth: Auth, key: IssuedKey, *, grace: timedelta | None, previous: str | None = None
) -> str:
    """Project a KeyRotated giving ``key`` a new secret, a second after the clock's time (events of
    one key are that far apart at least); returns the secret."""
    auth.clock.now += timedelta(seconds=1)
    secret = api_keys.generate()
    replaced = previous or key.secret
    await projection.apply_key_event(
        auth.uow(),
        KeyRotated(
            org_id=ORG,
            occurred_at=auth.clock(),
            payload=KeyRotatedPayload(
                key_id=key.key_id,
                name="ci",
                digest=api_keys.digest(secret),
                scopes=(INCIDENTS_READ, INCIDENTS_WRITE),
                created_at=T0,
                previous_digest=api_keys.digest(replaced) if grace else None,
                previous_valid_until=auth.clock() + grace if grace else None,
                rotated_at=auth.clock(),
            ),
        ),
    )
    assert isinstance(auth.ctx.keys, CachedKeys)
    auth.ctx.keys.cache.invalidate(key.key_id)  # the projection's NOTIFY, delivered
    return secret


async def test_the_old_secret_works_until_the_grace_ends_by_the_clock_alone(auth: Auth) -> None:
    key = await create_key(auth)
    auth.clock.now = T0 + timedelta(seconds=59)
    new = await rotate_key(auth, key, grace=timedelta(minutes=30))

    old_token = await exchange_key(auth, key.key_id, key.secret)
    await exchange_key(auth, key.key_id, new)
    # A token bought with the old secret does not outlive the old secret.
    assert old_token.expires_in == 900
    auth.clock.now = T0 + timedelta(minutes=30, seconds=50)
    late_token = await exchange_key(auth, key.key_id, key.secret)
    assert late_token.expires_in == 10

    auth.clock.now = T0 + timedelta(minutes=31)
    with pytest.raises(InvalidClient):
        await exchange_key(auth, key.key_id, key.secret)
    with pytest.raises(InvalidClient):
        await exchange.exchange_bare_key(ctx=auth.ctx, key=key.secret, client_address="192.0.2.1")
    assert (await exchange_key(auth, key.key_id, new)).expires_in == 900


async def test_a_bare_old_secret_is_found_during_the_grace(auth: Auth) -> None:
    key = await create_key(auth)
    await rotate_key(auth, key, grace=timedelta(minutes=5))

    issued = await exchange.exchange_bare_key(
        ctx=auth.ctx, key=key.secret, client_address="192.0.2.1"
    )

    assert issued.expires_in == 300


async def test_without_grace_or_after_a_second_rotation_the_older_secret_is_refused(
    auth: Auth,
) -> None:
    key = await create_key(auth)
    first = await rotate_key(auth, key, grace=None)
    with pytest.raises(InvalidClient):
        await exchange_key(auth, key.key_id, key.secret)

    second = await rotate_key(auth, key, grace=timedelta(minutes=30), previous=first)
    third = await rotate_key(auth, key, grace=timedelta(minutes=30), previous=second)

    with pytest.raises(InvalidClient):
        await exchange_key(auth, key.key_id, first)
    await exchange_key(auth, key.key_id, second)
    await exchange_key(auth, key.key_id, third)


async def test_revoking_a_rotating_key_ends_both_secrets(auth: Auth) -> None:
    key = await create_key(auth)
    new = await rotate_key(auth, key, grace=timedelta(minutes=30))

    await projection.apply_key_event(auth.uow(), revoked(key.key_id, at=T0))

    for secret in (key.secret, new):
        with pytest.raises(InvalidClient):
            await exchange_key(auth, key.key_id, secret)


async def test_a_late_creation_cannot_bring_the_replaced_secret_back(auth: Auth) -> None:
    key = await create_key(auth)
    new = await rotate_key(auth, key, grace=None)
    created = KeyCreated(
        org_id=ORG,
        occurred_at=T0,
        payload=KeyCreatedPayload(
            key_id=key.key_id,
            name="ci",
            digest=api_keys.digest(key.secret),
            scopes=(INCIDENTS_READ,),
            created_at=T0,
        ),
    )

    await projection.apply_key_event(auth.uow(), created)

    with pytest.raises(InvalidClient):
        await exchange_key(auth, key.key_id, key.secret)
    await exchange_key(auth, key.key_id, new)


async def test_the_rotation_alone_rebuilds_the_key_with_both_secrets(auth: Auth) -> None:
    key = IssuedKey(uuid4(), api_keys.generate())  # its KeyCreated was compacted away

    new = await rotate_key(auth, key, grace=timedelta(minutes=30))

    await exchange_key(auth, key.key_id, key.secret)
    await exchange_key(auth, key.key_id, new)


async def test_uses_of_the_old_secret_are_announced_apart_from_the_new_ones(auth: Auth) -> None:
    key = await create_key(auth)
    new = await rotate_key(auth, key, grace=timedelta(minutes=30))

    await exchange_key(auth, key.key_id, new)
    await exchange_key(auth, key.key_id, key.secret)
    await exchange_key(auth, key.key_id, key.secret)

    assert [e.payload.previous_secret for e in auth.uses_announced] == [None, True]


@pytest.mark.parametrize("problem", ["unknown", "revoked", "expired", "wrong secret", "malformed"])
async def test_a_key_that_does_not_prove_itself_is_refused_alike(auth: Auth, problem: str) -> None:
    key = await create_key(auth, expires_at=T0 + timedelta(days=1))
    key_id, secret = key.key_id, key.secret
    if problem == "unknown":
        key_id = uuid4()
    elif problem == "revoked":
        await projection.apply_key_event(auth.uow(), revoked(key.key_id, at=T0))
    elif problem == "expired":
        auth.clock.now = T0 + timedelta(days=1)
    elif problem == "wrong secret":
        secret = api_keys.generate()
    else:
        secret = "flk_short"

    with pytest.raises(InvalidClient) as refused:
        await exchange_key(auth, key_id, secret)

    assert refused.value.method is ClientAuthMethod.BASIC
    assert auth.uses_announced == []


async def test_a_revocation_takes_effect_once_the_cache_hears_of_it(auth: Auth) -> None:
    key = await create_key(auth)
    await exchange_key(auth, key.key_id, key.secret)

    await projection.apply_key_event(auth.uow(), revoked(key.key_id, at=T0))
    assert isinstance(auth.ctx.keys, CachedKeys)
    auth.ctx.keys.cache.invalidate(key.key_id)  # the projection's NOTIFY, delivered

    with pytest.raises(InvalidClient):
        await exchange_key(auth, key.key_id, key.secret)


async def test_the_requested_scope_narrows_the_token_but_never_widens_it(auth: Auth) -> None:
    key = await create_key(auth, scopes=(INCIDENTS_READ, INCIDENTS_WRITE))

    narrowed = await exchange_key(auth, key.key_id, key.secret, scope=INCIDENTS_READ)

    principal = await introspection.local_verifier(auth.ctx).verify(narrowed.access_token)
    assert principal.scopes == {INCIDENTS_READ}
    assert narrowed.scope == INCIDENTS_READ
    with pytest.raises(InvalidScope):
        await exchange_key(auth, key.key_id, key.secret, scope="integrations:write")


async def test_failed_authentications_are_rate_limited_but_never_lock_out_the_owner(
    auth: Auth,
) -> None:
    key = await create_key(auth)
    wrong = api_keys.generate()
    for i in range(LIMIT):
        with pytest.raises(InvalidClient):
            await exchange_key(auth, key.key_id, wrong, address=f"203.0.113.{i}")

    with pytest.raises(RateLimited) as limited:
        await exchange_key(auth, key.key_id, wrong, address="203.0.113.50")
    assert limited.value.retry_after_s >= 1
    # The key id is public: its used-up budget stops guessing, never its owner.
    assert (await exchange_key(auth, key.key_id, key.secret)).access_token


async def test_an_address_with_no_failures_left_is_refused_even_the_right_secret(
    auth: Auth,
) -> None:
    key = await create_key(auth)
    for _ in range(ADDRESS_LIMIT):
        # Keys that exist, wrong secrets: each key's own budget lasts, the address's runs out.
        other = await create_key(auth)
        with pytest.raises(InvalidClient):
            await exchange_key(auth, other.key_id, key.secret, address="203.0.113.5")

    with pytest.raises(RateLimited):
        await exchange_key(auth, key.key_id, key.secret, address="203.0.113.5")
    assert (await exchange_key(auth, key.key_id, key.secret, address="198.51.100.9")).scope


async def test_only_the_client_credentials_grant_is_supported(auth: Auth) -> None:
    key = await create_key(auth)
    with pytest.raises(UnsupportedGrantType):
        await exchange.exchange_client_credentials(
            ctx=auth.ctx,
            grant_type="password",
            credentials=credentials(key.key_id, key.secret),
            scope=None,
            client_address="198.51.100.7",
        )


async def test_no_signing_key_means_no_token(auth: Auth) -> None:
    key = await create_key(auth)
    auth.ctx.keyring.load([])

    with pytest.raises(SigningUnavailable):
        await exchange_key(auth, key.key_id, key.secret)
    assert auth.uses_announced == []


async def test_a_stale_view_of_revocations_exchanges_no_key_until_a_watermark_arrives(
    auth: Auth,
) -> None:
    key = await create_key(auth)
    view = KeysView(max_age_s=10)
    auth.ctx.keys_view = view
    # Nothing heard from one of the two partitions: a revocation there could be missing.
    view.update(0, 2, time.time())
    for attempt in (
        exchange_key(auth, key.key_id, key.secret),
        exchange.exchange_bare_key(ctx=auth.ctx, key=key.secret, client_address="198.51.100.7"),
    ):
        with pytest.raises(RevocationsUnavailable):
            await attempt
    assert auth.uses_announced == []  # not even the key's use

    view.update(1, 2, time.time())
    assert (await exchange_key(auth, key.key_id, key.secret)).access_token


async def test_a_bare_key_is_found_by_its_digest(auth: Auth) -> None:
    key = await create_key(auth, scopes=(INCIDENTS_READ,))

    issued = await exchange.exchange_bare_key(
        ctx=auth.ctx, key=key.secret, client_address="198.51.100.7"
    )

    assert issued.scope == INCIDENTS_READ
    with pytest.raises(InvalidClient) as refused:
        await exchange.exchange_bare_key(
            ctx=auth.ctx, key=api_keys.generate(), client_address="198.51.100.7"
        )
    assert refused.value.method is ClientAuthMethod.BARE_KEY


async def test_introspection_reads_the_projection_and_hides_other_orgs_tokens(
    auth: Auth,
) -> None:
    key = await create_key(auth)
    caller = await create_key(auth)
    stranger = await create_key(auth, org_id=uuid4())
    token = (await exchange_key(auth, key.key_id, key.secret)).access_token
    verifier = introspection.local_verifier(auth.ctx)

    async def introspect(who: IssuedKey) -> dict[str, Any]:
        return await introspection.introspect(
            ctx=auth.ctx,
            verifier=verifier,
            credentials=credentials(who.key_id, who.secret),
            token=token,
            client_address="198.51.100.7",
        )

    active = await introspect(caller)
    assert active["active"] is True
    assert active["sub"] == str(key.key_id)
    assert await introspect(stranger) == {"active": False}

    # Revoked: refused at once, whatever replicas still hold in their key caches.
    await projection.apply_key_event(auth.uow(), revoked(key.key_id, at=T0))
    assert await introspect(caller) == {"active": False}


async def test_a_stale_view_of_revocations_vouches_for_no_token(auth: Auth) -> None:
    key = await create_key(auth)
    caller = await create_key(auth)
    token = (await exchange_key(auth, key.key_id, key.secret)).access_token
    verifier = introspection.local_verifier(auth.ctx)
    view = KeysView(max_age_s=10)
    auth.ctx.keys_view = view
    view.update(0, 2, time.time())  # one partition unheard of: a revocation could be missing

    async def introspect() -> dict[str, Any]:
        return await introspection.introspect(
            ctx=auth.ctx,
            verifier=verifier,
            credentials=credentials(caller.key_id, caller.secret),
            token=token,
            client_address="198.51.100.7",
        )

    with pytest.raises(RevocationsUnavailable):
        await introspect()

    view.update(1, 2, time.time())
    assert (await introspect())["active"] is True


# --- signing keys --------------------------------------------------------------------------------


async def test_ensure_creates_one_signing_key_under_the_lock_and_only_once(auth: Auth) -> None:
    [first] = auth.tables.signing_keys.values()
    assert first.info.activates_at == T0, "nothing signed before: it signs at once"
    assert auth.ctx.keyring.signer(T0) is not None

    again = await signing_keys.ensure_signing_key(
        auth.uow(), box=auth.ctx.box, algorithm=ALGORITHM, now=T0
    )

    assert again is False
    assert list(auth.tables.signing_keys) == [first.info.kid]
    assert auth.tables.signing_key_locks == 2
    assert auth.ctx.box.open(first.private_key_encrypted, first.info.kid.encode())


async def rotate(
    auth: Auth, *, immediate: bool = False, algorithm: Algorithm = ALGORITHM
) -> signing_keys.RotationResult:
    result = await signing_keys.rotate_signing_keys(
        auth.uow(),
        box=auth.ctx.box,
        algorithm=algorithm,
        now=auth.clock(),
        publish_ahead=PUBLISH_AHEAD,
        retention=RETENTION,
        immediate=immediate,
    )
    assert result is not None
    await signing_keys.load_signing_keys(auth.uow(), auth.ctx.keyring)
    return result


async def test_a_rotated_key_is_published_first_and_signs_after_publish_ahead(
    auth: Auth,
) -> None:
    [old] = auth.ctx.keyring.keys

    result = await rotate(auth)

    assert result.created
    assert result.key.activates_at == T0 + PUBLISH_AHEAD
    published = {jwk["kid"] for jwk in auth.ctx.keyring.jwks(T0)["keys"]}
    assert published == {old.kid, result.key.kid}
    signer = auth.ctx.keyring.signer(T0)
    assert signer is not None
    assert signer.kid == old.kid
    later = auth.ctx.keyring.signer(T0 + PUBLISH_AHEAD)
    assert later is not None
    assert later.kid == result.key.kid
    # A key already waiting is returned instead of adding another.
    again = await rotate(auth)
    assert (again.created, again.key) == (False, result.key)
    assert len(auth.tables.signing_keys) == 2


async def test_an_immediate_rotation_withdraws_every_old_key(auth: Auth) -> None:
    [old] = auth.ctx.keyring.keys
    pending = await rotate(auth)

    result = await rotate(auth, immediate=True)

    assert result.created
    assert result.key.activates_at == T0
    assert list(auth.tables.signing_keys) == [result.key.kid]
    assert {jwk["kid"] for jwk in auth.ctx.keyring.jwks(T0)["keys"]} == {result.key.kid}
    assert old.kid != result.key.kid != pending.key.kid


async def scheduled(
    auth: Auth, algorithm: Algorithm = ALGORITHM, chosen_at: datetime | None = None
) -> signing_keys.RotationResult | None:
    """The schedule of a replica that read ``algorithm`` at ``chosen_at`` (default: now)."""
    return await signing_keys.scheduled_rotation(
        auth.uow(),
        box=auth.ctx.box,
        algorithm=algorithm,
        algorithm_chosen_at=chosen_at or auth.clock(),
        now=auth.clock(),
        rotation_period=ROTATION_PERIOD,
        publish_ahead=PUBLISH_AHEAD,
        retention=RETENTION,
    )


async def test_the_schedule_takes_no_lock_until_a_rotation_is_due(auth: Auth) -> None:
    transactions = auth.db.transactions

    assert await scheduled(auth) is None

    assert auth.db.transactions == transactions, "only the lock-free look"
    assert len(auth.tables.signing_keys) == 1


async def test_the_schedule_rotates_a_key_older_than_the_period(auth: Auth) -> None:
    [old] = auth.ctx.keyring.keys
    auth.clock.now = T0 + ROTATION_PERIOD

    result = await scheduled(auth)

    assert result is not None
    assert result.created
    assert result.key.kid != old.kid
    assert result.key.activates_at == auth.clock.now + PUBLISH_AHEAD


async def test_a_retired_key_is_deleted_once_its_tokens_have_expired(auth: Auth) -> None:
    [old] = auth.ctx.keyring.keys
    successor = (await rotate(auth)).key
    retired_at = successor.activates_at

    auth.clock.now = retired_at + RETENTION - timedelta(seconds=1)
    assert await scheduled(auth) is None
    assert old.kid in auth.tables.signing_keys, "its tokens may still be presented"

    auth.clock.now = retired_at + RETENTION
    assert await scheduled(auth) is None, "not due: only the clean-up"
    assert list(auth.tables.signing_keys) == [successor.kid]
    await signing_keys.load_signing_keys(auth.uow(), auth.ctx.keyring)
    assert [k.kid for k in auth.ctx.keyring.keys] == [successor.kid]


@pytest.mark.parametrize("new", [Algorithm.RS256, Algorithm.ED25519], ids=str)
async def test_a_changed_algorithm_setting_is_a_rotation_published_ahead(
    auth: Auth, new: Algorithm
) -> None:
    [old] = auth.ctx.keyring.keys
    key = await create_key(auth)
    before = (await exchange_key(auth, key.key_id, key.secret)).access_token
    auth.clock.now = T0 + timedelta(seconds=1)

    result = await scheduled(auth, algorithm=new)
    await signing_keys.load_signing_keys(auth.uow(), auth.ctx.keyring)

    assert result is not None
    assert result.created
    assert result.key.algorithm == new
    assert result.key.activates_at == auth.clock.now + PUBLISH_AHEAD, "published ahead"
    published = {jwk["kid"]: jwk["alg"] for jwk in auth.ctx.keyring.jwks(auth.clock.now)["keys"]}
    assert published == {old.kid: str(ALGORITHM), result.key.kid: str(new)}
    assert await scheduled(auth, algorithm=new) is None, "the successor is waiting"
    verifier = introspection.local_verifier(auth.ctx)
    assert (await verifier.verify(before)).key_id == str(key.key_id)

    auth.clock.now = result.key.activates_at
    after = (await exchange_key(auth, key.key_id, key.secret)).access_token
    assert jwt.get_unverified_header(after) == {
        "alg": str(new),
        "typ": "at+jwt",
        "kid": result.key.kid,
    }
    assert (await verifier.verify(before)).key_id == str(key.key_id), "old tokens still verify"
    assert (await verifier.verify(after)).key_id == str(key.key_id)
    assert await scheduled(auth, algorithm=new) is None, "nothing more to do"
    # A replica still running the old setting (chosen before the new key existed) during a
    # rolling restart leaves the newer decision alone.
    assert await scheduled(auth, algorithm=ALGORITHM, chosen_at=T0) is None
    # One started with it afterwards is a newer decision again: it rotates back.
    rolled_back = await scheduled(auth, algorithm=ALGORITHM, chosen_at=auth.clock.now)
    assert rolled_back is not None
    assert rolled_back.key.algorithm == ALGORITHM


# --- projection ----------------------------------------------------------------------------------


async def test_a_created_key_is_projected_with_its_state(auth: Auth) -> None:
    expires = T0 + timedelta(days=7)
    key = await create_key(auth, scopes=(INCIDENTS_READ,), expires_at=expires)

    stored = await auth.tables.api_keys.get(key.key_id)

    assert stored == ApiKey(
        key_id=key.key_id,
        org_id=ORG,
        name="ci",
        digest=api_keys.digest(key.secret),
        scopes=(INCIDENTS_READ,),
        expires_at=expires,
        revoked_at=None,
    )
    assert stored.usable_at(T0)


async def test_a_revoked_key_stays_revoked(auth: Auth) -> None:
    key = await create_key(auth)

    await projection.apply_key_event(auth.uow(), revoked(key.key_id, at=T0))
    await projection.apply_key_event(auth.uow(), revoked(key.key_id, at=T0 + timedelta(hours=1)))

    stored = await auth.tables.api_keys.get(key.key_id)
    assert stored is not None
    assert stored.revoked_at == T0, "set once"
    assert not stored.usable_at(T0)


async def test_a_revocation_arriving_before_the_creation_is_not_undone(auth: Auth) -> None:
    secret = api_keys.generate()
    key_id = uuid4()
    await projection.apply_key_event(auth.uow(), revoked(key_id, at=T0 + timedelta(minutes=5)))
    created = KeyCreated(
        org_id=ORG,
        occurred_at=T0,
        payload=KeyCreatedPayload(
            key_id=key_id,
            name="ci",
            digest=api_keys.digest(secret),
            scopes=(INCIDENTS_READ,),
            created_by=None,
            created_at=T0,
        ),
    )

    await projection.apply_key_event(auth.uow(), created)

    stored = await auth.tables.api_keys.get(key_id)
    assert stored is not None
    assert stored.revoked_at == T0 + timedelta(minutes=5)
    assert stored.digest == api_keys.digest(secret)
    with pytest.raises(InvalidClient):
        await exchange_key(auth, key_id, secret)


async def test_a_late_creation_keeps_the_newer_name_and_a_full_rename_rebuilds_a_key(
    auth: Auth,
) -> None:
    secret = api_keys.generate()
    key_id = uuid4()
    payload = KeyRenamedPayload(
        key_id=key_id,
        name="deploys",
        digest=api_keys.digest(secret),
        scopes=(INCIDENTS_READ,),
        created_by=None,
        created_at=T0,
    )
    renamed = KeyRenamed(org_id=ORG, occurred_at=T0 + timedelta(minutes=1), payload=payload)
    await projection.apply_key_event(auth.uow(), renamed)

    # The rename alone rebuilt the key (its KeyCreated may have been compacted away).
    assert (await exchange_key(auth, key_id, secret)).scope == INCIDENTS_READ

    created = KeyCreated(
        org_id=ORG,
        occurred_at=T0,
        payload=KeyCreatedPayload(
            key_id=key_id,
            name="ci",
            digest=api_keys.digest(secret),
            scopes=(INCIDENTS_READ,),
            created_by=None,
            created_at=T0,
        ),
    )
    await projection.apply_key_event(auth.uow(), created)
    stored = await auth.tables.api_keys.get(key_id)
    assert stored is not None
    assert stored.name == "deploys"


async def test_events_the_projection_does_not_fold_open_no_unit_of_work(auth: Auth) -> None:
    entered = auth.entered
    unrelated = KeyUsed(org_id=ORG, payload=KeyUsedPayload(key_id=uuid4(), used_at=T0))

    await projection.apply_key_event(auth.uow(), unrelated)

    assert auth.entered == entered
    assert auth.tables.api_keys.rows == {}


async def test_projection_writes_are_inside_a_transaction(auth: Auth) -> None:
    seen: list[bool] = []
    original = auth.tables.api_keys.apply_revoked

    async def spy(**kwargs: Any) -> None:
        seen.append(auth.db.in_transaction)
        await original(**kwargs)

    auth.tables.api_keys.apply_revoked = spy  # type: ignore[method-assign]
    await projection.apply_key_event(auth.uow(), revoked(uuid4(), at=T0))

    assert seen == [True]


# --- failed exchanges reported for the audit log ----------------------------------------------


async def test_failed_exchanges_are_reported_once_per_key_and_minute_after_it_ends(
    auth: Auth,
) -> None:
    key = await create_key(auth)
    for i in range(3):
        with pytest.raises((InvalidClient, RateLimited)):
            await exchange_key(auth, key.key_id, api_keys.generate(), address=f"203.0.113.{i % 2}")
    with pytest.raises(InvalidClient):
        await exchange_key(auth, uuid4(), api_keys.generate())  # no such key: no org to tell

    # The minute is still running: nothing to report yet.
    assert await report_failures(auth.uow(), auth.ctx.exchange_failures, auth.clock.now) == 0
    later = T0 + timedelta(minutes=1)
    assert await report_failures(auth.uow(), auth.ctx.exchange_failures, later) == 1
    assert await report_failures(auth.uow(), auth.ctx.exchange_failures, later) == 0

    [report] = auth.failures_reported
    assert report.org_id == ORG
    assert report.payload.key_id == key.key_id
    assert report.payload.attempts == 3
    assert report.payload.addresses == ("203.0.113.0", "203.0.113.1")
    assert report.payload.window_start == T0.replace(second=0, microsecond=0)
    assert key.secret not in report.model_dump_json()
