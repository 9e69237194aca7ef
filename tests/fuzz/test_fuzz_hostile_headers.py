"""Every header a service reads, written the way an attacker would: never a 5xx.

Each operation of each service's OpenAPI is called with one hostile header at a time, once
without credentials and once with the legitimate ones (so the header meets the handler, not
only authentication). Values are raw bytes: non-ASCII (which Starlette hands over as Latin-1
text), schemes without credentials, broken base64 and forms.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fuzz.conftest import Access

from support.stack import Stack

pytestmark = pytest.mark.fuzz

UTF8 = "é".encode()  # b"\xc3\xa9"

HOSTILE: list[tuple[bytes, bytes]] = [
    (b"Authorization", b"Basic " + UTF8),
    (b"Authorization", b"Basic " + UTF8 + b":" + UTF8),
    (b"Authorization", b"Basic =="),
    (b"Authorization", b"Basic"),
    (b"Authorization", b"Bearer " + UTF8),
    (b"Authorization", b"Bearer \xff\xfe.\xff.\xff"),
    (b"Authorization", b"Bearer a.b.c"),
    (b"Authorization", b"Bearer e30.e30.+/=="),
    (b"Authorization", b"Bearer"),
    (b"Authorization", UTF8),
    (b"Cookie", b"fireline_session=" + UTF8 + b"; fireline_csrf=\xff"),
    (b"Origin", b"http://" + UTF8),
    (b"X-Forwarded-For", UTF8 + b", , 999.1.1.1, ::1"),
    (b"X-Correlation-ID", UTF8 * 200),
    (b"traceparent", b"00-" + UTF8 + b"-zz-01"),
    (b"tracestate", UTF8),
    (b"X-Webhook-Id", b"\xff" * 40),
    (b"X-PagerDuty-Signature", b"v1=" + UTF8),
    (b"GITHUB-PUBLIC-KEY-IDENTIFIER", UTF8),
    (b"GITHUB-PUBLIC-KEY-SIGNATURE", UTF8),
    (b"Content-Type", b"application/x-www-form-urlencoded; charset=" + UTF8),
    (b"Content-Type", b"multipart/form-data; boundary=" + UTF8),
    (b"Accept", UTF8),
]

BROKEN_FORM = b"grant_type=%ff%fe&client_id=\xc3\xa9&&=&client_secret=%"


def _operations(base_url: str) -> Iterator[tuple[str, str]]:
    document: dict[str, Any] = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    for path, item in document["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), concrete


def _credentials(service: str, access: Access) -> dict[str, str]:
    if service in ("incidents", "pagerduty-ingest", "notifications"):
        return access.bearer()
    if service == "identity":
        return access.session()
    return {}


def _answer(
    client: httpx.Client,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes | None,
) -> tuple[int, str]:
    """The status and the start of the body. An event stream's body never ends (the incidents
    live updates): its status is the answer, and the stream is closed unread."""
    with client.stream(method, path, headers=headers, content=body) as answer:
        if answer.headers.get("content-type", "").startswith("text/event-stream"):
            return answer.status_code, "(event stream)"
        return answer.status_code, answer.read()[:200].decode(errors="replace")


@pytest.mark.parametrize(
    "service", ["identity", "auth", "incidents", "pagerduty-ingest", "notifications"]
)
def test_no_header_however_written_is_a_5xx(stack: Stack, access: Access, service: str) -> None:
    base_url = stack.url(service)
    server_errors: list[str] = []
    calls = 0
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for method, path in _operations(base_url):
            if (method, path) == ("DELETE", "/v1/session"):
                continue  # would end the session the other identity calls are made with
            for name, value in HOSTILE:
                for legitimate in ({}, _credentials(service, access)):
                    headers = [
                        (k.encode(), v.encode())
                        for k, v in legitimate.items()
                        if k.lower().encode() != name.lower()
                    ]
                    headers.append((name, value))
                    if name.lower() != b"content-type":
                        headers.append((b"Content-Type", b"application/x-www-form-urlencoded"))
                    body = BROKEN_FORM if method in ("POST", "PUT", "PATCH") else None
                    status, text = _answer(client, method, path, headers, body)
                    calls += 1
                    if status >= 500:
                        server_errors.append(
                            f"{method} {path} with {name.decode()}: {value!r} -> {status} {text}"
                        )
    assert calls > len(HOSTILE)
    assert not server_errors, "\n".join(server_errors)
