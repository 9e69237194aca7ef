"""What identity's use cases need from the outside world, as Protocols; adapters implement them
and ``bootstrap`` chooses which (the dependency points from adapters to here, never back)."""

from __future__ import annotations

from typing import Protocol


class PasswordHasher(Protocol):
    """Slow, salted password hashing (argon2id in production, see adapters/passwords.py)."""

    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...

    async def burn(self, password: str) -> None:
        """Spend the time a real verification would take, for a login that cannot succeed."""

    def needs_rehash(self, password_hash: str) -> bool: ...
