"""A stand-in for the auth service in integration tests: signs access tokens, serves the JWKS.

Services never call the auth service to check a token: they verify RFC 9068 access tokens
(``typ: at+jwt``, EdDSA) locally against the public keys auth publishes at its JWKS URL. An
integration test of one service therefore does not need auth running; it needs a JWKS URL and
tokens signed by a key listed there. :class:`TokenIssuer` is that: an Ed25519 key whose JWKS is
served on loopback (on a thread, so it answers whichever event loop is fetching), minting tokens
with the claims auth puts in them, so the service's own token verifier is exercised unchanged.

Point the service at it with ``FIRELINE_JWKS_URL=issuer.jwks_url``, and with
``FIRELINE_TOKEN_ISSUER``/``FIRELINE_TOKEN_AUDIENCE`` equal to ``issuer.issuer_url`` and
``issuer.audience``; unless given to the constructor, those are the defaults of
:class:`fireline_runtime.settings.TokenSettings`.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from uuid import UUID

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from fireline_runtime.settings import TokenSettings

ALL_SCOPES: tuple[str, ...] = (
    "incidents:read",
    "incidents:write",
    "integrations:read",
    "integrations:write",
    "webhooks:read",
    "webhooks:write",
)
DEFAULT_ISSUER: str = TokenSettings.model_fields["token_issuer"].default
DEFAULT_AUDIENCE: str = TokenSettings.model_fields["token_audience"].default
DEFAULT_LIFETIME_S = 900


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    """Signs access tokens with one Ed25519 key and serves its JWKS on loopback.

    Use ``TokenIssuer().start()`` … ``stop()``, or ``with TokenIssuer() as issuer:``.
    """

    def __init__(self, *, issuer_url: str | None = None, audience: str | None = None) -> None:
        self.issuer_url = issuer_url if issuer_url is not None else DEFAULT_ISSUER
        self.audience = audience if audience is not None else DEFAULT_AUDIENCE
        self.kid = f"test-{uuid.uuid4().hex[:8]}"
        self._key = Ed25519PrivateKey.generate()
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        jwk = {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(public),
            "kid": self.kid,
            "use": "sig",
            "alg": "EdDSA",
        }
        body = json.dumps({"keys": [jwk]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def jwks_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/.well-known/jwks.json"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() would wait forever for a loop never started
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def token(
        self,
        *,
        org_id: UUID,
        scopes: str | Sequence[str] = ALL_SCOPES,
        key_id: UUID | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        lifetime_s: int = DEFAULT_LIFETIME_S,
    ) -> str:
        """An access token of API key ``key_id`` (a fresh one by default) of ``org_id``.

        ``scopes`` is a space-separated string or a sequence of scopes; ``issuer`` and
        ``audience`` override this issuer's ``iss`` and ``aud`` for this token only.
        """
        client_id = str(key_id if key_id is not None else uuid.uuid4())
        scope = scopes if isinstance(scopes, str) else " ".join(scopes)
        now = int(time.time())
        claims = {
            "iss": issuer if issuer is not None else self.issuer_url,
            "aud": audience if audience is not None else self.audience,
            "sub": client_id,
            "client_id": client_id,
            "org_id": str(org_id),
            "scope": scope,
            "iat": now,
            "exp": now + lifetime_s,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(
            claims, self._key, algorithm="EdDSA", headers={"typ": "at+jwt", "kid": self.kid}
        )
