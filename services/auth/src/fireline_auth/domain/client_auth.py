"""Client authentication at the OAuth endpoints (RFC 6749 §2.3.1).

A client (an API key: ``client_id`` = key id, ``client_secret`` = the key) authenticates either with
HTTP Basic, whose user name and password are first form-urlencoded, or with ``client_id`` and
``client_secret`` form fields. Using both in one request is refused (§2.3: "MUST NOT use more than
one authentication method in each request").
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from fireline_auth.domain.errors import ClientAuthMethod, InvalidClient, InvalidRequest


@dataclass(frozen=True)
class ClientCredentials:
    """What a client presented. ``repr`` hides the secret so it cannot leak through a log line."""

    client_id: str
    client_secret: str
    method: ClientAuthMethod

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, method={self.method.value!r})"


def _basic(authorization: str) -> tuple[str, str] | None:
    """(user, password) of a ``Basic`` header, form-urldecoded; None if it is another scheme."""
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError:
        # binascii.Error and UnicodeDecodeError are ValueErrors, and so is what b64decode raises
        # for a header that is not ASCII at all (Starlette hands it over as Latin-1 text).
        raise InvalidClient(ClientAuthMethod.BASIC) from None
    user, colon, password = decoded.partition(":")
    if not colon:
        raise InvalidClient(ClientAuthMethod.BASIC)
    # RFC 6749 §2.3.1: both parts are application/x-www-form-urlencoded before Basic encoding.
    return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)


def parse_client_credentials(
    *, authorization: str | None, form: Mapping[str, str]
) -> ClientCredentials:
    """The client's credentials from the Authorization header or the form; raise if unusable."""
    basic = _basic(authorization) if authorization else None
    form_id = form.get("client_id")
    form_secret = form.get("client_secret")
    if basic is not None:
        if form_secret is not None:
            raise InvalidRequest("Use one client authentication method, not both.")
        client_id, secret = basic
        # A client_id in the form next to Basic is tolerated only if it names the same client.
        if form_id is not None and form_id != client_id:
            raise InvalidRequest("Use one client authentication method, not both.")
        return ClientCredentials(client_id, secret, ClientAuthMethod.BASIC)
    if authorization and authorization.strip():
        # Another scheme (Bearer, ...) is not a client authentication method we support.
        raise InvalidClient(ClientAuthMethod.NONE)
    if form_id is None or form_secret is None:
        raise InvalidClient(ClientAuthMethod.NONE)
    return ClientCredentials(form_id, form_secret, ClientAuthMethod.POST)


def parse_bare_key(authorization: str | None) -> str:
    """The key of a Blameless-style ``Authorization: <key>`` or ``Authorization: Bearer <key>``."""
    value = (authorization or "").strip()
    scheme, space, rest = value.partition(" ")
    if space and scheme.lower() == "bearer":
        value = rest.strip()
    if not value or " " in value or value.lower() == "bearer":
        raise InvalidClient(ClientAuthMethod.BARE_KEY)
    return value
