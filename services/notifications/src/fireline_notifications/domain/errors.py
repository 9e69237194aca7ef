"""Domain errors of the notifications service; one exception handler maps them to problem
details."""

from __future__ import annotations


class NotificationsError(Exception):
    """Base of every error a client can act on."""


class EndpointNotFound(NotificationsError):
    """No endpoint with that id in the caller's org (another org's endpoint is also not found)."""


class DeliveryNotFound(NotificationsError):
    """No delivery with that id for that endpoint."""


class InvalidEndpoint(NotificationsError):
    """The endpoint's fields break a rule (an unknown event type, a description too long)."""


class RefusedUrl(NotificationsError):
    """The URL is not https, or names a private, loopback, link-local or metadata address that
    the allow-list does not name, or does not resolve."""


class InvalidCursor(NotificationsError):
    """A pagination cursor that this service did not issue, or that was altered."""


class EndpointDisabled(NotificationsError):
    """The endpoint is disabled; enable it (PATCH) before sending it anything."""
