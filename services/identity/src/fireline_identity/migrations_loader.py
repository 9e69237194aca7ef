"""Identity's migrations, after the runtime's own (outbox, inbox): the service and CLI share it."""

from __future__ import annotations

from fireline_runtime.migrations import Migration, load, runtime_migrations

SERVICE = "identity"


def service_migrations() -> list[Migration]:
    return load(SERVICE, "fireline_identity.migrations")


def all_migrations() -> list[Migration]:
    return [*runtime_migrations(), *service_migrations()]
