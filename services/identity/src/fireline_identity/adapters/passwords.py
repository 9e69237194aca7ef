"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile).

Hashing is deliberately slow and CPU-bound, so it runs in a worker thread: the event loop keeps
serving other requests while a login is being checked.
"""

from __future__ import annotations

import asyncio
import secrets

import argon2
from argon2.exceptions import InvalidHashError, VerificationError


class Argon2Hasher:
    """argon2id, off the event loop; implements service_layer.ports.PasswordHasher."""

    def __init__(self, hasher: argon2.PasswordHasher | None = None) -> None:
        # argon2-cffi's default type is argon2id.
        self._hasher = hasher or argon2.PasswordHasher()
        # Checked against when no user matches, so unknown emails cost as much as wrong passwords.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(24))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    async def burn(self, password: str) -> None:
        """Spend the time a real verification would take, for a login that cannot succeed."""
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
