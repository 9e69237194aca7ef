"""Domain errors of the ingest service; one handler in the entrypoints maps them to problems."""

from __future__ import annotations


class IngestError(Exception):
    """Base of every error a client can be told about; the message is safe to send back."""


class IntegrationNotFound(IngestError):
    """No live integration with that id in the caller's org (or at all, for webhooks)."""

    def __init__(self) -> None:
        super().__init__("No PagerDuty integration with this id.")


class InvalidIntegration(IngestError):
    """A create or update asks for something the integration rules refuse."""

    def __init__(self, detail: str, *, code: str = "invalid_integration") -> None:
        super().__init__(detail)
        self.code = code


class BodyTooLarge(IngestError):
    """The delivery is larger than PagerDuty's documented best-effort maximum."""


class InvalidSignature(IngestError):
    """No ``v1=`` signature in the header matches the body under any active secret."""

    def __init__(self) -> None:
        super().__init__(
            "X-PagerDuty-Signature is missing or matches none of this integration's signing "
            "secrets."
        )


class InvalidWebhookQuery(IngestError):
    """A query parameter of the webhook URL (``incident_type``, ``severity``) is unusable."""


class VerificationUnavailable(IngestError):
    """A signing secret cannot be read (wrong encryption key): not the sender's fault.

    Answered like an outage (503) rather than 401: PagerDuty drops 4xx deliveries and disables a
    subscription after three in a row, while a server-side key problem is fixable and retried.
    """

    def __init__(self) -> None:
        super().__init__("The signature cannot be checked right now; retry later.")


class StorageUnavailable(IngestError):
    """The delivery could not be stored durably right now; PagerDuty should retry it."""

    def __init__(self) -> None:
        super().__init__("The delivery could not be stored right now; retry later.")


class UnstorableValue(ValueError):
    """The database refused a value the use case tried to store (the same on every attempt).

    Raised by the storage adapters in place of the driver's own error, with that error as its
    ``__cause__``, so the use cases can tell a delivery's own bad content from an outage.
    """
