"""Login throttling, session lifetime, permissions and the same-origin rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fireline_identity.domain.errors import PermissionDenied
from fireline_identity.domain.login_throttle import (
    ACCOUNT_SLOWDOWN,
    PER_ADDRESS,
    PER_PAIR,
    strictest,
)
from fireline_identity.domain.origins import allowed_origins, is_foreign, origin_of
from fireline_identity.domain.permissions import Action, ensure_allowed, is_allowed
from fireline_identity.domain.sessions import SessionPolicy, new_token, token_digest
from fireline_identity.domain.users import Role

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def _ago(*minutes: float) -> list[datetime]:
    return [NOW - timedelta(minutes=m) for m in minutes]


def test_an_account_may_fail_five_times_from_one_address_in_fifteen_minutes() -> None:
    assert PER_PAIR.retry_after(_ago(1, 2, 3, 4), now=NOW) is None
    # The fifth failure 10 minutes ago is the oldest: it leaves the window in 5 minutes.
    assert PER_PAIR.retry_after(_ago(1, 2, 3, 4, 10), now=NOW) == 5 * 60


def test_failures_older_than_the_window_do_not_count() -> None:
    assert PER_PAIR.retry_after(_ago(1, 2, 3, 4, 15, 16, 60), now=NOW) is None


def test_retry_after_waits_for_enough_failures_to_age_out() -> None:
    # Seven failures: the three oldest (14, 6 and 5 minutes ago) must age out before the count
    # is below five again, so the wait ends when the one from 5 minutes ago does.
    failures = _ago(1, 2, 3, 4, 5, 6, 14)
    assert PER_PAIR.retry_after(failures, now=NOW) == 10 * 60
    # Never zero: a refused client is always told to wait at least a second.
    assert PER_PAIR.retry_after(_ago(1, 2, 3, 4, 14.9999), now=NOW) == 1


def test_an_address_may_fail_twenty_times() -> None:
    half_minutes = [i / 2 for i in range(1, 21)]  # 0.5 .. 10 minutes ago
    assert PER_ADDRESS.retry_after(_ago(*half_minutes[:19]), now=NOW) is None
    assert PER_ADDRESS.retry_after(_ago(*half_minutes), now=NOW) == 5 * 60


def test_an_accounts_slow_down_grows_but_never_locks() -> None:
    nine = _ago(*range(1, 10))
    assert ACCOUNT_SLOWDOWN.retry_after(nine, now=NOW) is None
    # The 10th failure, a second ago: the next attempt must wait one second after it.
    assert ACCOUNT_SLOWDOWN.retry_after([NOW, *nine], now=NOW) == 1
    # Forty failures within the window: the gap is capped at a minute after the latest one...
    many = [NOW - timedelta(seconds=10 * i) for i in range(40)]
    assert ACCOUNT_SLOWDOWN.retry_after(many, now=NOW) == 60
    # ...and once a minute has passed since it, the next attempt is allowed.
    assert ACCOUNT_SLOWDOWN.retry_after(many, now=NOW + timedelta(seconds=60)) is None


def test_the_strictest_throttle_decides() -> None:
    assert strictest(None, None) is None
    assert strictest(None, 30) == 30
    assert strictest(600, 30) == 600


def test_sessions_end_when_idle_or_too_old() -> None:
    policy = SessionPolicy()
    expires = NOW + timedelta(days=7)
    assert policy.is_live(last_seen_at=NOW - timedelta(hours=11), expires_at=expires, now=NOW)
    assert not policy.is_live(last_seen_at=NOW - timedelta(hours=12), expires_at=expires, now=NOW)
    assert not policy.is_live(last_seen_at=NOW, expires_at=NOW, now=NOW)
    assert not policy.needs_touch(last_seen_at=NOW - timedelta(seconds=30), now=NOW)
    assert policy.needs_touch(last_seen_at=NOW - timedelta(minutes=2), now=NOW)


def test_session_tokens_are_long_random_and_stored_as_digests() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    token = tokens.pop()
    assert len(token) >= 43  # 32 bytes, URL-safe base64
    assert len(token_digest(token)) == 64
    assert token not in token_digest(token)


@pytest.mark.parametrize("action", list(Action))
def test_admins_may_do_everything(action: Action) -> None:
    ensure_allowed(Role.ADMIN, action)


def test_members_may_only_list_keys() -> None:
    assert [a for a in Action if is_allowed(Role.MEMBER, a)] == [Action.LIST_KEYS]
    for action in (Action.CREATE_KEY, Action.RENAME_KEY, Action.REVOKE_KEY, Action.MANAGE_USERS):
        with pytest.raises(PermissionDenied):
            ensure_allowed(Role.MEMBER, action)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://127.0.0.1:8001", "http://127.0.0.1:8001"),
        ("HTTPS://Id.Example.com:443/ui/", "https://id.example.com"),
        ("http://example.com:80", "http://example.com"),
        ("http://[::1]:8001", "http://[::1]:8001"),
        ("null", None),
        ("ftp://example.com", None),
        ("http://", None),
        ("http://example.com:99999", None),
    ],
)
def test_origins_are_normalised(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


def test_only_the_public_origin_and_configured_extras_are_allowed() -> None:
    allowed = allowed_origins("https://id.example.com/", ["http://localhost:5173", "garbage"])
    assert allowed == frozenset({"https://id.example.com", "http://localhost:5173"})
    assert not is_foreign(None, allowed), "non-browser clients send no Origin"
    assert not is_foreign("https://id.example.com", allowed)
    assert not is_foreign("https://ID.example.com:443", allowed)
    for foreign in ("null", "http://id.example.com", "https://id.example.com:8443", "https://evil"):
        assert is_foreign(foreign, allowed), foreign
