"""Key authentication: only the right secret of a usable key passes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fireline_auth.domain.keys import ApiKey, authenticate
from fireline_contracts import api_keys

NOW = datetime(2025, 1, 1, tzinfo=UTC)
SECRET = api_keys.generate()


def stored(**changes: object) -> ApiKey:
    fields: dict[str, object] = {
        "key_id": uuid.uuid4(),
        "org_id": uuid.uuid4(),
        "name": "ci",
        "digest": api_keys.digest(SECRET),
        "scopes": ("incidents:read",),
        "expires_at": None,
        "revoked_at": None,
    }
    fields.update(changes)
    return ApiKey(**fields)  # type: ignore[arg-type]


def test_the_right_secret_of_a_usable_key_passes() -> None:
    key = stored(expires_at=NOW + timedelta(seconds=1))
    assert authenticate(SECRET, key, NOW) is key


def test_every_failure_looks_the_same() -> None:
    assert authenticate(SECRET, None, NOW) is None, "unknown"
    assert authenticate(api_keys.generate(), stored(), NOW) is None, "wrong secret"
    assert authenticate(SECRET, stored(revoked_at=NOW - timedelta(days=1)), NOW) is None
    assert authenticate(SECRET, stored(expires_at=NOW), NOW) is None, "expired"
    assert authenticate(SECRET, stored(digest=None), NOW) is None, "revocation seen, creation not"


def test_repr_has_no_digest() -> None:
    key = stored()
    assert key.digest is not None
    assert key.digest not in repr(key)


def test_the_replaced_secret_passes_until_its_grace_ends_and_never_outlives_it() -> None:
    new = api_keys.generate()
    end = NOW + timedelta(minutes=30)
    key = stored(
        digest=api_keys.digest(new),
        previous_digest=api_keys.digest(SECRET),
        previous_valid_until=end,
        expires_at=NOW + timedelta(days=1),
    )

    by_old = authenticate(SECRET, key, NOW)
    assert by_old is not None
    assert by_old.via_previous_secret
    assert by_old.expires_at == end, "a token bought with the old secret ends with it"
    assert authenticate(new, key, NOW) is key
    assert authenticate(SECRET, key, end) is None, "the end is exclusive"
    forgotten = stored(digest=api_keys.digest(new), previous_valid_until=end)
    assert authenticate(SECRET, forgotten, NOW) is None, "rotated without grace"
    revoked = stored(
        digest=api_keys.digest(new),
        previous_digest=api_keys.digest(SECRET),
        previous_valid_until=end,
        revoked_at=NOW,
    )
    assert authenticate(SECRET, revoked, NOW) is None, "revocation ends both secrets"
    assert authenticate(new, revoked, NOW) is None
