"""The deny list each token-taking service keeps in memory: revoked keys and ended sessions.

Access tokens stay valid until they expire, so a revoked API key's outstanding tokens are refused by
checking the token's key id here, and a person's tokens by their session id (``sid``) once the
session ended (logout, user deactivated); a rotated key's tokens bought with the secret the
rotation retired are refused from the end of its grace period (at once for a grace of 0), by the
token's secret fingerprint. Each service fills it from ``KeyRevoked``, ``SessionRevoked`` and
``KeyRotated`` events, which it also records in its ``revoked_keys``, ``revoked_sessions`` and
``key_rotations`` tables: a restart resumes the topics from their committed offsets, so the list
is reloaded from those tables (``token_guard``), not replayed. This
module is only the data structure.
"""

from __future__ import annotations

from dataclasses import dataclass

from fireline_runtime.tokens import Principal


@dataclass(frozen=True, slots=True)
class Rotation:
    """A key's latest rotation: which secrets still buy tokens that are honoured."""

    current: str
    """Fingerprint of the secret the rotation issued."""
    previous: str | None
    """Fingerprint of the secret it replaced, honoured until ``valid_until``; None without grace."""
    valid_until: float
    """Unix time the grace period ends (the rotation's own time for a grace of 0)."""
    rotated_at: float

    def refuses(self, principal: Principal, now: float) -> bool:
        """Whether the token was bought with a secret this rotation has retired by ``now``."""
        if now < self.valid_until:
            # Within the grace both secrets work; older ones ended with the rotation before.
            return principal.secret_fingerprint not in (None, self.current, self.previous)
        if principal.secret_fingerprint is None:
            # A token from before auth named its secret: bought before the rotation, it may be
            # the old secret's, and the grace is over.
            return principal.issued_at < self.rotated_at
        return principal.secret_fingerprint != self.current


class RevokedKeys:
    """Key and session ids whose tokens must be refused. A revocation is final, so ids are never
    removed.

    The consumer that adds ids and the requests that read them run on one event loop and a set
    operation never awaits, so no lock is needed.
    """

    def __init__(self) -> None:
        self._key_ids: set[str] = set()
        self._rotations: dict[str, Rotation] = {}

    def add(self, key_id: str) -> None:
        self._key_ids.add(key_id)

    def rotated(self, key_id: str, rotation: Rotation) -> None:
        """Record ``rotation`` unless a later one of the key is known (events may be replayed)."""
        known = self._rotations.get(key_id)
        if known is None or known.rotated_at <= rotation.rotated_at:
            self._rotations[key_id] = rotation

    def secret_retired(self, principal: Principal, now: float) -> bool:
        """Whether ``principal``'s token was bought with a secret a rotation has retired."""
        rotation = self._rotations.get(principal.key_id)
        return rotation is not None and rotation.refuses(principal, now)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._key_ids

    def __len__(self) -> int:
        return len(self._key_ids)
