"""The tests' webhook receiver keeps what a real receiver would act on, and nothing else.

The e2e fault test kills the notifications service with SIGKILL while it sends. A sender killed
after writing a request's headers and before its body leaves a request cut short; an HTTP server
never hands that to its application, and the sender owes the message again (the killed claim's
lease runs out and it goes out once more, under the same webhook-id).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from support.webhook_receiver import WebhookReceiver

BODY = json.dumps({"type": "incident.started", "data": {}}).encode()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def _cut_short(receiver: WebhookReceiver, path: str, sent: bytes) -> bytes:
    """POST ``path`` announcing all of BODY, send only ``sent`` of it, stop writing as a killed
    sender does; what the receiver answered once it closed the connection."""
    url = urlsplit(receiver.url(path))
    with socket.create_connection((url.hostname, url.port), timeout=30) as conn:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\ncontent-type: application/json\r\n"
            f"webhook-id: msg_cut\r\ncontent-length: {len(BODY)}\r\n\r\n"
        )
        conn.sendall(head.encode() + sent)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        # Until the receiver is done with the request and closes: the positive signal that
        # whatever it was going to record is recorded.
        while chunk := conn.recv(4096):
            answer += chunk
        return answer


@pytest.mark.parametrize("sent", [b"", BODY[:10]], ids=["headers only", "part of the body"])
def test_a_request_cut_short_is_not_recorded_as_received(
    receiver: WebhookReceiver, sent: bytes
) -> None:
    answer = _cut_short(receiver, "/hook", sent)

    assert receiver.received("/hook") == []
    assert answer == b""  # nobody is left to answer
    # The same message whole, as the sender's next attempt brings it, is received.
    r = httpx.post(receiver.url("/hook"), content=BODY, headers={"webhook-id": "msg_cut"})
    assert r.status_code == 204
    (got,) = receiver.received("/hook")
    assert json.loads(got.body) == json.loads(BODY)
    assert got.headers["webhook-id"] == "msg_cut"
