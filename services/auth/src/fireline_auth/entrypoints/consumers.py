"""Kafka consumers of the auth service."""

from __future__ import annotations

from fireline_auth.service_layer.projection import apply_key_event
from fireline_contracts import KEYS
from fireline_runtime.messaging import EventHandler

key_projection = EventHandler(
    name="auth.key-projection",
    topic=KEYS,
    handle=apply_key_event,
    description="Keeps auth's projection of API keys (digest, scopes, expiry, revocation).",
)
