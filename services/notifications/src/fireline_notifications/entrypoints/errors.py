"""The one mapping from the notifications domain's errors to problem details."""

from __future__ import annotations

from fireline_notifications.domain.errors import (
    DeliveryNotFound,
    EndpointDisabled,
    EndpointNotFound,
    InvalidCursor,
    InvalidEndpoint,
    NotificationsError,
    RefusedUrl,
)
from fireline_runtime.problems import ErrorMap

ERRORS = (
    ErrorMap(NotificationsError)
    .add(NotificationsError, 400, "bad_request", "Bad request")
    .add(EndpointNotFound, 404, "not_found", "Webhook endpoint not found")
    .add(DeliveryNotFound, 404, "not_found", "Delivery not found")
    .add(InvalidEndpoint, 422, "invalid_endpoint", "Webhook endpoint is not valid")
    .add(RefusedUrl, 422, "url_refused", "Webhook URL refused")
    .add(InvalidCursor, 400, "invalid_cursor", "Invalid cursor")
    .add(EndpointDisabled, 409, "endpoint_disabled", "Webhook endpoint is disabled")
)
