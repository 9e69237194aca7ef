"""The deny list each token-taking service keeps in memory: revoked keys and ended sessions.

Access tokens stay valid until they expire, so a revoked API key's outstanding tokens are refused by
checking the token's key id here, and a person's tokens by their session id (``sid``) once the
session ended (logout, user deactivated). Each service fills it from ``KeyRevoked`` and
``SessionRevoked`` events, which it also records in its ``revoked_keys`` and ``revoked_sessions``
tables: a restart resumes the topics from their committed offsets, so the list is reloaded from
those tables (``token_guard``), not replayed. This
module is only the data structure.
"""

from __future__ import annotations


class RevokedKeys:
    """Key and session ids whose tokens must be refused. A revocation is final, so ids are never
    removed.

    The consumer that adds ids and the requests that read them run on one event loop and a set
    operation never awaits, so no lock is needed.
    """

    def __init__(self) -> None:
        self._key_ids: set[str] = set()

    def add(self, key_id: str) -> None:
        self._key_ids.add(key_id)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._key_ids

    def __len__(self) -> int:
        return len(self._key_ids)
