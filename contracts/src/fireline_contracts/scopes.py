"""The scopes an API key (and so an access token) can carry: identity grants them to keys, auth
puts them in tokens and advertises them, and every API checks them.

Listed once here so a scope added for a new API reaches the key dialog, the token and the
server metadata together.
"""

from __future__ import annotations

from typing import Final

INCIDENTS_READ: Final = "incidents:read"
INCIDENTS_WRITE: Final = "incidents:write"
INTEGRATIONS_READ: Final = "integrations:read"
INTEGRATIONS_WRITE: Final = "integrations:write"
WEBHOOKS_READ: Final = "webhooks:read"
WEBHOOKS_WRITE: Final = "webhooks:write"

ALL_SCOPES: tuple[str, ...] = (
    INCIDENTS_READ,
    INCIDENTS_WRITE,
    INTEGRATIONS_READ,
    INTEGRATIONS_WRITE,
    WEBHOOKS_READ,
    WEBHOOKS_WRITE,
)
"""Every scope, in the canonical order keys and tokens list them in."""
