"""A secret scanner of the tests' own: an ECDSA P-256 key pair, its public-keys document in the
shape GitHub publishes, and reports signed the way GitHub signs them (base64 DER over the body)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


@dataclass
class Scanner:
    key_identifier: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def sign(self, body: bytes) -> str:
        return base64.b64encode(self.private_key.sign(body, ec.ECDSA(hashes.SHA256()))).decode()

    def headers(self, body: bytes) -> dict[str, str]:
        return {
            "GITHUB-PUBLIC-KEY-IDENTIFIER": self.key_identifier,
            "GITHUB-PUBLIC-KEY-SIGNATURE": self.sign(body),
            "Content-Type": "application/json",
        }


def write_keys_file(path: Path, *scanners: Scanner) -> None:
    """The document a deployment fetches from GitHub, written atomically as it should be."""
    document = {
        "public_keys": [
            {"key_identifier": s.key_identifier, "key": s.public_pem(), "is_current": True}
            for s in scanners
        ]
    }
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(document))
    partial.replace(path)


def report(*tokens: str, url: str = "https://github.com/acme/app/blob/main/.env") -> bytes:
    entries: list[dict[str, Any]] = [
        {"token": t, "type": "fireline_api_key", "url": url, "source": "content"} for t in tokens
    ]
    return json.dumps(entries).encode()
