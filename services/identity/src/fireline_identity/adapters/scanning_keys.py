"""The secret scanner's public keys, read from the file the deployment keeps up to date.

The file has the shape of GitHub's public-keys document (``{"public_keys": [{"key_identifier",
"key", "is_current"}]}``). Fireline never fetches it: the deployment does (GitHub rotates its keys)
and Fireline re-reads the file whenever its modification time or size changes, so a new key
works without a restart. A file that cannot be read or parsed keeps the keys read last, so a
half-written update never stops reports that the previous keys verify.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

log = logging.getLogger(__name__)

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


class ScanningKeyFile:
    """ECDSA P-256 keys by identifier, reloaded when the file changes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {}

    def verify(self, body: bytes, key_identifier: str | None, signature: str | None) -> bool:
        """Whether ``signature`` (base64 DER ECDSA over SHA-256 of ``body``) is by that key."""
        if not key_identifier or not signature:
            return False
        key = self._current().get(key_identifier)
        if key is None:
            return False
        try:
            key.verify(base64.b64decode(signature, validate=True), body, _ECDSA_SHA256)
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True

    def _current(self) -> dict[str, ec.EllipticCurvePublicKey]:
        try:
            stat = os.stat(self._path)
        except OSError as exc:
            if self._stamp is not None:
                log.warning("secret-scanning keys file unreadable", extra={"error": repr(exc)})
            return self._keys
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            try:
                self._keys = _parse(self._path.read_bytes())
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.error("secret-scanning keys file not usable", extra={"error": repr(exc)})
                return self._keys
            finally:
                self._stamp = stamp
            log.info("secret-scanning keys loaded", extra={"keys": sorted(self._keys)})
        return self._keys


def _parse(raw: bytes) -> dict[str, ec.EllipticCurvePublicKey]:
    keys: dict[str, ec.EllipticCurvePublicKey] = {}
    for entry in json.loads(raw)["public_keys"]:
        key = load_pem_public_key(entry["key"].encode("ascii"))
        # Only P-256: the partner format signs with it, and a weaker curve must not slip in.
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise ValueError(f"key {entry['key_identifier']!r} is not an ECDSA P-256 key")
        keys[str(entry["key_identifier"])] = key
    return keys
