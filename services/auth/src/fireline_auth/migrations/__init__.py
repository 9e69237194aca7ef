"""The auth service's own tables: one SQL file per change, applied in name order after the
runtime's (outbox, inbox). The service's bootstrap and its operator commands load them here."""

from __future__ import annotations

from fireline_runtime.migrations import Migration, load

COMPONENT = "auth"
"""The name its versions are recorded under in `schema_migrations`; never renamed."""


def migrations() -> list[Migration]:
    return load(COMPONENT, __name__)
