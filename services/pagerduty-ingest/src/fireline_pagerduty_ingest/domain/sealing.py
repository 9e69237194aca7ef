"""Where each PagerDuty secret is bound when sealed (the associated data of the runtime's
:class:`~fireline_runtime.secret_box.SecretBox`): a ciphertext copied into another integration's
row, or from a signing secret into the API token column, does not open.
"""

from __future__ import annotations


def api_token_context(integration_id: object) -> str:
    """Associated data of an integration's API token."""
    return f"{integration_id}:pagerduty-api-token"


def signing_secret_context(integration_id: object, secret_id: object) -> str:
    """Associated data of one signing secret."""
    return f"{integration_id}:signing-secret:{secret_id}"
