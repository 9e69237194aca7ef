"""Rotation policy: which key signs, which are published, and when retired keys drop out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fireline_auth.domain import signing
from fireline_auth.domain.signing import SigningKeyInfo

T0 = datetime(2025, 1, 1, tzinfo=UTC)
AHEAD = timedelta(seconds=120)
RETENTION = timedelta(seconds=900 + 30 + 5)
PERIOD = timedelta(days=30)


def key(
    kid: str, created: datetime, activates: datetime | None = None, algorithm: str = "RS256"
) -> SigningKeyInfo:
    return SigningKeyInfo(
        kid=kid,
        public_key=b"\0" * 32,
        created_at=created,
        activates_at=activates or created,
        algorithm=algorithm,
    )


def kids(keys: list[SigningKeyInfo]) -> list[str]:
    return [k.kid for k in keys]


def test_a_single_key_signs_and_is_published() -> None:
    keys = [key("a", T0)]
    assert signing.current_key(keys, T0).kid == "a"  # type: ignore[union-attr]
    assert kids(signing.published_keys(keys, T0, RETENTION)) == ["a"]
    assert signing.current_key(keys, T0 - timedelta(seconds=1)) is None


def test_a_new_key_is_published_before_it_signs() -> None:
    rotated_at = T0 + PERIOD
    keys = [key("a", T0), key("b", rotated_at, rotated_at + AHEAD)]

    just_after = rotated_at + timedelta(seconds=1)
    assert signing.current_key(keys, just_after).kid == "a"  # type: ignore[union-attr]
    assert signing.pending_key(keys, just_after).kid == "b"  # type: ignore[union-attr]
    assert kids(signing.published_keys(keys, just_after, RETENTION)) == ["a", "b"]

    promoted = rotated_at + AHEAD
    assert signing.current_key(keys, promoted).kid == "b"  # type: ignore[union-attr]
    assert signing.pending_key(keys, promoted) is None
    assert signing.retired_at(keys[0], keys) == promoted


def test_a_retired_key_stays_published_until_its_last_token_expired() -> None:
    retired = T0 + PERIOD + AHEAD
    keys = [key("a", T0), key("b", T0 + PERIOD, retired)]
    almost = retired + RETENTION - timedelta(seconds=1)
    assert kids(signing.published_keys(keys, almost, RETENTION)) == ["a", "b"]
    assert signing.expired_keys(keys, almost, RETENTION) == []

    gone = retired + RETENTION
    assert kids(signing.published_keys(keys, gone, RETENTION)) == ["b"]
    assert kids(signing.expired_keys(keys, gone, RETENTION)) == ["a"]


def test_rotation_is_due_after_the_period_unless_a_successor_waits() -> None:
    keys = [key("a", T0)]
    assert not signing.rotation_due(keys, T0 + PERIOD - timedelta(seconds=1), PERIOD, "RS256")
    assert signing.rotation_due(keys, T0 + PERIOD, PERIOD, "RS256")
    waiting = [*keys, key("b", T0 + PERIOD, T0 + PERIOD + AHEAD)]
    assert not signing.rotation_due(waiting, T0 + PERIOD + timedelta(seconds=1), PERIOD, "RS256")
    assert signing.rotation_due([], T0, PERIOD, "RS256")


def test_a_signing_key_of_another_algorithm_is_due_at_once_unless_a_successor_waits() -> None:
    keys = [key("a", T0, algorithm="EdDSA")]
    assert signing.rotation_due(keys, T0, PERIOD, "ES256")
    assert not signing.rotation_due(keys, T0, PERIOD, "EdDSA")
    # A successor of the wanted algorithm is published ahead: nothing more until it signs.
    waiting = [*keys, key("b", T0, T0 + AHEAD, algorithm="ES256")]
    assert not signing.rotation_due(waiting, T0 + timedelta(seconds=1), PERIOD, "ES256")
    assert not signing.rotation_due(waiting, T0 + AHEAD, PERIOD, "ES256")


def test_a_key_of_another_algorithm_chosen_later_is_not_rotated_back() -> None:
    keys = [key("a", T0, algorithm="RS256")]
    assert not signing.rotation_due(keys, T0, PERIOD, "ES256", chosen_at=T0 - timedelta(seconds=1))
    assert signing.rotation_due(keys, T0, PERIOD, "ES256", chosen_at=T0 + timedelta(seconds=1))


def test_three_generations() -> None:
    b_at = T0 + PERIOD + AHEAD
    c_at = T0 + 2 * PERIOD + AHEAD
    keys = [key("c", T0 + 2 * PERIOD, c_at), key("a", T0), key("b", T0 + PERIOD, b_at)]
    now = c_at + timedelta(seconds=10)
    assert signing.current_key(keys, now).kid == "c"  # type: ignore[union-attr]
    # "a" retired a whole period ago; "b" just retired and still verifies its tokens.
    assert kids(signing.published_keys(keys, now, RETENTION)) == ["b", "c"]
    assert kids(signing.expired_keys(keys, now, RETENTION)) == ["a"]


def test_a_key_created_in_the_future_is_not_published_yet() -> None:
    keys = [key("a", T0), key("b", T0 + timedelta(seconds=5), T0 + timedelta(seconds=60))]
    assert kids(signing.published_keys(keys, T0, RETENTION)) == ["a"]
