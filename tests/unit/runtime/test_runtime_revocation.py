"""The deny list's rotation rule: after a rotation's grace period only the new secret's tokens
are honoured; within it both; a grace of 0 ends the old secret's tokens at once."""

from __future__ import annotations

import uuid

from fireline_runtime.revocation import RevokedKeys, Rotation
from fireline_runtime.tokens import Principal

KEY = "key-1"
ROTATED_AT = 1_700_000_000.0
OLD, NEW, OLDER = "fp-old", "fp-new", "fp-older"


def token(fingerprint: str | None, issued_at: float = ROTATED_AT - 60) -> Principal:
    return Principal(
        key_id=KEY,
        org_id=uuid.uuid4(),
        scopes=frozenset(),
        jti="j",
        expires_at=int(issued_at) + 900,
        issued_at=issued_at,
        secret_fingerprint=fingerprint,
    )


def keys_rotated(grace_s: float) -> RevokedKeys:
    keys = RevokedKeys()
    keys.rotated(
        KEY,
        Rotation(
            current=NEW,
            previous=OLD if grace_s else None,
            valid_until=ROTATED_AT + grace_s,
            rotated_at=ROTATED_AT,
        ),
    )
    return keys


def test_a_rotation_without_grace_refuses_the_old_secrets_tokens_at_once() -> None:
    keys = keys_rotated(0)
    assert keys.secret_retired(token(OLD), ROTATED_AT)
    assert not keys.secret_retired(token(NEW, ROTATED_AT), ROTATED_AT)


def test_within_the_grace_both_secrets_work_and_after_it_only_the_new_one() -> None:
    keys = keys_rotated(300)
    during, after = ROTATED_AT + 299, ROTATED_AT + 300
    assert not keys.secret_retired(token(OLD), during)
    assert not keys.secret_retired(token(NEW), during)
    assert keys.secret_retired(token(OLDER), during), "a secret an earlier rotation replaced"
    assert keys.secret_retired(token(OLD), after)
    assert not keys.secret_retired(token(NEW), after)


def test_tokens_naming_no_secret_are_judged_by_when_they_were_issued() -> None:
    keys = keys_rotated(0)
    assert keys.secret_retired(token(None, ROTATED_AT - 1), ROTATED_AT)
    assert not keys.secret_retired(token(None, ROTATED_AT + 1), ROTATED_AT + 1)


def test_a_replayed_older_rotation_does_not_undo_a_later_one() -> None:
    keys = keys_rotated(0)
    keys.rotated(KEY, Rotation(OLD, None, ROTATED_AT - 100, ROTATED_AT - 100))
    assert keys.secret_retired(token(OLD), ROTATED_AT)
    assert not keys.secret_retired(token(NEW), ROTATED_AT)


def test_keys_never_rotated_are_left_alone() -> None:
    assert not RevokedKeys().secret_retired(token("anything"), ROTATED_AT)
