"""The failed-authentication limit: wrong secrets are throttled, the key's owner never is.

Key ids are public (every token names one as ``sub``), so failures against a key id must not lock
out whoever holds the right secret; the address limit is well above one client's, since clients
behind a proxy share an address; ids that name no key (yet) cost nothing; and behind reverse
proxies the address comes from trusted X-Forwarded-For entries only.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
from starlette.requests import Request

from fireline_auth.adapters import key_cache
from fireline_auth.adapters.rate_limit import SlidingWindowLimiter
from fireline_auth.domain.client_auth import ClientCredentials
from fireline_auth.domain.errors import ClientAuthMethod, InvalidClient, RateLimited
from fireline_auth.domain.keys import ApiKey
from fireline_auth.entrypoints.deps import _client_address
from fireline_auth.service_layer.authentication import ADDRESS, authenticate_client
from fireline_auth.service_layer.context import AuthContext
from fireline_contracts import KeyUsed, api_keys
from fireline_runtime.client_address import client_address as forwarded_client
from support import fake_uow

LIMIT = 3
ADDRESS_LIMIT = 3 * LIMIT
NOW = datetime(2030, 1, 1, tzinfo=UTC)
SECRET = api_keys.generate()
KEY = ApiKey(
    key_id=uuid.uuid4(),
    org_id=uuid.uuid4(),
    name="ci",
    digest=api_keys.digest(SECRET),
    scopes=("incidents:read",),
    expires_at=None,
    revoked_at=None,
)


class FakeApiKeys:
    """The projection's reads, holding only ``KEY``; every read is noted in ``reads``."""

    def __init__(self, reads: list[uuid.UUID]) -> None:
        self.reads = reads

    async def get(self, key_id: uuid.UUID) -> ApiKey | None:
        self.reads.append(key_id)
        return KEY if key_id == KEY.key_id else None


class FakeReader(fake_uow.FakeUnitOfWork[FakeApiKeys, KeyUsed]):
    """Only what client authentication reads, inside ``uow.reading()``."""

    @property
    def api_keys(self) -> FakeApiKeys:
        return self.bound


def cached_keys(reads: list[uuid.UUID]) -> key_cache.CachedKeys:
    db = fake_uow.FakeDatabase[FakeApiKeys, KeyUsed](FakeApiKeys(reads), topics=())
    return key_cache.CachedKeys(lambda: cast(Any, FakeReader(db)))


@pytest.fixture
def ctx() -> AuthContext:
    # Only the key reader, the limiter and the clock are used by client authentication.
    unused = cast(Any, None)
    return AuthContext(
        uow=unused,
        keys=cached_keys([]),
        box=unused,
        keyring=unused,
        limiter=SlidingWindowLimiter(
            limit=LIMIT, window_s=60, limits_by_kind={ADDRESS: ADDRESS_LIMIT}
        ),
        policy=unused,
        clock=lambda: NOW,
    )


async def attempt(ctx: AuthContext, secret: str, address: str, key_id: str = "") -> object:
    """The key, or the error, that authenticating from ``address`` yields."""
    credentials = ClientCredentials(
        client_id=key_id or str(KEY.key_id), client_secret=secret, method=ClientAuthMethod.POST
    )
    try:
        return await authenticate_client(ctx=ctx, credentials=credentials, client_address=address)
    except (InvalidClient, RateLimited) as exc:
        return exc


async def test_wrong_secrets_from_anywhere_do_not_lock_out_the_owner(ctx: AuthContext) -> None:
    wrong = api_keys.generate()
    for i in range(LIMIT):
        assert isinstance(await attempt(ctx, wrong, f"203.0.113.{i}"), InvalidClient), i
    for i in range(LIMIT, 3 * LIMIT):
        # The key id has used up its failures: further guesses are throttled wherever from.
        limited = await attempt(ctx, wrong, f"203.0.113.{i}")
        assert isinstance(limited, RateLimited), i
        assert 1 <= limited.retry_after_s <= 60

    assert await attempt(ctx, SECRET, "198.51.100.7") == KEY, "the right secret still works"


async def test_a_malformed_secret_counts_against_the_key_id_too(ctx: AuthContext) -> None:
    for i in range(LIMIT):
        assert isinstance(await attempt(ctx, "flk_short", f"203.0.113.{i}"), InvalidClient)

    assert isinstance(await attempt(ctx, "flk_short", "203.0.113.99"), RateLimited)
    assert await attempt(ctx, SECRET, "198.51.100.7") == KEY


async def test_the_address_limit_refuses_even_the_right_secret(ctx: AuthContext) -> None:
    for _ in range(ADDRESS_LIMIT):
        # Malformed secrets for other keys: only the address is spent for this one.
        assert isinstance(
            await attempt(ctx, "flk_short", "203.0.113.5", key_id=str(uuid.uuid4())),
            InvalidClient,
        )

    assert isinstance(await attempt(ctx, SECRET, "203.0.113.5"), RateLimited)
    assert await attempt(ctx, SECRET, "198.51.100.7") == KEY, "other addresses are unaffected"


async def test_one_clients_mistakes_do_not_lock_out_the_others_behind_its_address(
    ctx: AuthContext,
) -> None:
    # Ten bad exchanges (one client's limit over) from the one address a proxy gives everyone.
    other = api_keys.generate()
    for _ in range(LIMIT + 1):
        await attempt(ctx, other, "10.0.0.1", key_id=str(KEY.key_id))

    assert await attempt(ctx, SECRET, "10.0.0.1") == KEY


async def test_polling_a_key_auth_has_not_heard_of_yet_spends_no_budget(
    ctx: AuthContext,
) -> None:
    # A client polls the exchange with its new key until KeyCreated reaches auth: every answer
    # is a 401, none counts, and the key works the moment it arrives.
    for _ in range(ADDRESS_LIMIT + LIMIT):
        assert isinstance(
            await attempt(ctx, SECRET, "203.0.113.8", key_id=str(uuid.uuid4())), InvalidClient
        )

    assert await attempt(ctx, SECRET, "203.0.113.8") == KEY


@pytest.mark.parametrize(
    ("hops", "peer", "forwarded", "expected"),
    [
        (0, "10.0.0.1", "6.6.6.6", "10.0.0.1"),  # nobody trusted: a client cannot spoof it
        (1, "10.0.0.1", "6.6.6.6, 203.0.113.7", "203.0.113.7"),
        (2, "10.0.0.1", "6.6.6.6, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        (2, "10.0.0.1", " 203.0.113.7 ,10.0.0.2", "203.0.113.7"),
        (1, "10.0.0.1", None, "10.0.0.1"),
        (3, "10.0.0.1", "203.0.113.7", "203.0.113.7"),  # fewer entries than hops: the first
    ],
)
async def test_client_address_trusts_only_the_configured_proxy_hops(
    hops: int, peer: str, forwarded: str | None, expected: str
) -> None:
    assert forwarded_client(peer, forwarded, hops) == expected

    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    app = SimpleNamespace(state=SimpleNamespace(context=SimpleNamespace(trusted_proxy_hops=hops)))
    request = Request({"type": "http", "client": (peer, 1234), "headers": headers, "app": app})
    assert await _client_address(request) == expected


async def test_known_and_unknown_key_ids_cost_the_same_once_seen() -> None:
    reads: list[uuid.UUID] = []
    keys = cached_keys(reads)
    keys.cache.listening = True  # as when its LISTEN connection is up
    unknown = uuid.uuid4()

    for _ in range(3):
        assert await keys.get(KEY.key_id) == KEY
        assert await keys.get(unknown) is None

    # One database read per id, whether it names a key or not: the time of an exchange does not
    # tell which ids exist.
    assert sorted(map(str, reads)) == sorted([str(KEY.key_id), str(unknown)])
    # A key created later notifies, and is then found.
    keys.cache.invalidate(unknown)
    assert await keys.get(unknown) is None
    assert len(reads) == 3
