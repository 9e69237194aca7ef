"""Signing-key rotation policy: which key signs, which are published, which can be deleted.

Pure functions of the key list and a clock, so the policy is tested without a database or waiting.

Lifecycle of a key:

* **published** from ``created_at``: verifiers can fetch it before it is used;
* **signs** from ``activates_at`` until its successor's ``activates_at`` (its *retirement*);
* stays **published after retirement** for ``retention``: the longest token lifetime plus leeway,
  so every token it signed can still be verified; after that it is deleted.

An immediate rotation (suspected compromise) skips all of this: it deletes every existing key, so
none stays published and tokens they signed stop verifying (see ``service_layer.signing_keys``).

Switching the configured algorithm is a rotation like any other: the signing key is "due" as soon
as its algorithm is not the configured one, so its successor (of the new algorithm) is published
ahead and takes over later, and tokens of the old algorithm stay verifiable for their lifetime.

A new key is created ``publish_ahead`` before it activates. Verifiers (``fireline_runtime.tokens``)
refetch the JWKS on an unknown ``kid`` at most every 30 s, so a key that signed the moment it was
created could be refused for up to that long; publishing it first avoids that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from fireline_runtime import jose


@dataclass(frozen=True)
class SigningKeyInfo:
    """Public facts about a signing key (no private material)."""

    kid: str
    public_key: bytes
    created_at: datetime
    activates_at: datetime
    algorithm: str
    """The ``alg`` its tokens carry: RS256, ES256, Ed25519, or EdDSA for keys stored before the
    other algorithms existed (raw Ed25519; see ``adapters.crypto``)."""


@dataclass(frozen=True)
class StoredSigningKey:
    """A signing key as stored: its public facts and its sealed private key."""

    info: SigningKeyInfo
    private_key_encrypted: bytes

    def __repr__(self) -> str:
        return f"StoredSigningKey(kid={self.info.kid!r})"


def _by_activation(keys: Sequence[SigningKeyInfo]) -> list[SigningKeyInfo]:
    return sorted(keys, key=lambda k: (k.activates_at, k.created_at, k.kid))


def current_key(keys: Sequence[SigningKeyInfo], now: datetime) -> SigningKeyInfo | None:
    """The key that signs at ``now``: the latest one already activated."""
    active = [k for k in _by_activation(keys) if k.activates_at <= now]
    return active[-1] if active else None


def pending_key(keys: Sequence[SigningKeyInfo], now: datetime) -> SigningKeyInfo | None:
    """A key published but not yet signing, if any (the next one)."""
    pending = [k for k in _by_activation(keys) if k.activates_at > now]
    return pending[0] if pending else None


def retired_at(key: SigningKeyInfo, keys: Sequence[SigningKeyInfo]) -> datetime | None:
    """When ``key`` stopped (or will stop) signing: its successor's activation; None if none."""
    ordered = _by_activation(keys)
    index = ordered.index(key)
    return ordered[index + 1].activates_at if index + 1 < len(ordered) else None


def published_keys(
    keys: Sequence[SigningKeyInfo], now: datetime, retention: timedelta
) -> list[SigningKeyInfo]:
    """Keys in the JWKS at ``now``: pending, current, and retired ones still within retention."""
    published = []
    for key in _by_activation(keys):
        if key.created_at > now:
            continue
        retired = retired_at(key, keys)
        if retired is None or now < retired + retention:
            published.append(key)
    return published


def expired_keys(
    keys: Sequence[SigningKeyInfo], now: datetime, retention: timedelta
) -> list[SigningKeyInfo]:
    """Retired keys whose every token has expired: safe to delete."""
    out = []
    for key in keys:
        retired = retired_at(key, keys)
        if retired is not None and now >= retired + retention:
            out.append(key)
    return out


def rotation_due(
    keys: Sequence[SigningKeyInfo],
    now: datetime,
    rotation_period: timedelta,
    algorithm: str,
    *,
    chosen_at: datetime | None = None,
) -> bool:
    """True when no successor is waiting and the signing key is older than the period or signs
    with another algorithm than ``algorithm``, the one configured at ``chosen_at``.

    A signing key of another algorithm created after ``chosen_at`` was chosen by a later decision
    (a replica started since with a new setting, or the CLI), and the later decision wins: during
    a rolling restart the replicas still running the old setting do not rotate back.
    """
    if pending_key(keys, now) is not None:
        return False
    current = current_key(keys, now)
    if current is None or now - current.activates_at >= rotation_period:
        return True
    return current.algorithm != algorithm and (chosen_at is None or current.created_at < chosen_at)


@dataclass(frozen=True, slots=True)
class NewSigningKey:
    """A freshly generated key as it is stored; ``private_key`` must be sealed before it is."""

    kid: str
    algorithm: jose.Algorithm
    public_key: bytes
    private_key: bytes

    def __repr__(self) -> str:
        return f"NewSigningKey(kid={self.kid!r}, algorithm={self.algorithm!s})"


def new_signing_key(algorithm: jose.Algorithm) -> NewSigningKey:
    """A fresh key of ``algorithm``; its kid is the RFC 7638 thumbprint of its public key."""
    der = jose.generate_private_key(algorithm)
    key = jose.SigningKey.from_der(algorithm, der)
    return NewSigningKey(key.thumbprint(), algorithm, key.public_der(), der)
