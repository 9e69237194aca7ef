"""The in-memory set of signing keys a replica signs with and publishes.

Loaded from the database at start-up and refreshed periodically (a rotation may happen in another
replica or in the CLI) by ``service_layer.signing_keys.load_signing_keys``. Which key signs is
decided at signing time by the rotation policy and the clock, so a pending key starts signing on
time without any write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from fireline_auth.adapters.crypto import Signer, public_jwk, signing_key
from fireline_auth.domain import signing
from fireline_auth.domain.signing import SigningKeyInfo, StoredSigningKey
from fireline_runtime.secret_box import SecretBox, UndecryptableSecret

log = logging.getLogger(__name__)


class KeyRing:
    def __init__(self, box: SecretBox, retention: Callable[[], timedelta]) -> None:
        self._box = box
        self._retention = retention
        self._keys: list[SigningKeyInfo] = []
        self._signers: dict[str, Signer | None] = {}
        # kid -> JWKS entry, built once per key: the JWKS is served (and read by introspection)
        # far more often than keys change, and an RSA entry is not free to build.
        self._jwks: dict[str, dict[str, str]] = {}

    @property
    def keys(self) -> Sequence[SigningKeyInfo]:
        return tuple(self._keys)

    def load(self, stored: Sequence[StoredSigningKey]) -> None:
        """Replace the key set; decrypt only keys not seen before."""
        signers: dict[str, Signer | None] = {}
        entries: dict[str, dict[str, str]] = {}
        for item in stored:
            info = item.info
            kid = info.kid
            entries[kid] = self._jwks.get(kid) or public_jwk(kid, info.algorithm, info.public_key)
            if kid in self._signers:
                signers[kid] = self._signers[kid]
                continue
            try:
                raw = self._box.open(item.private_key_encrypted, kid.encode())
                signers[kid] = Signer(kid, info.algorithm, signing_key(info.algorithm, raw))
            except UndecryptableSecret:
                # Still publishable (the public key is not encrypted), but it cannot sign.
                log.error("signing key does not decrypt", extra={"kid": kid})
                signers[kid] = None
        self._keys = [item.info for item in stored]
        self._signers = signers
        self._jwks = entries

    def signer(self, now: datetime) -> Signer | None:
        """The signer of the key that signs at ``now``; None if there is none or it is unusable."""
        current = signing.current_key(self._keys, now)
        return self._signers.get(current.kid) if current is not None else None

    def jwks(self, now: datetime) -> dict[str, Any]:
        published = signing.published_keys(self._keys, now, self._retention())
        return {"keys": [self._jwks[k.kid] for k in published]}
