"""Standard Webhooks signatures, checked against the specification's example and the reference
library from PyPI (`standardwebhooks`), not against our own code."""

from __future__ import annotations

import base64
import time

from standardwebhooks import Webhook

from fireline_notifications.domain import signing
from fireline_notifications.domain.endpoint import SECRET_BYTES, new_secret

# The example the specification's reference implementations are tested with.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specifications_example_signs_as_published() -> None:
    assert signing.signature(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_new_secrets_are_whsec_base64_of_24_random_bytes() -> None:
    secret = new_secret()

    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == SECRET_BYTES
    assert new_secret() != secret


def test_headers_with_two_secrets_verify_under_either_with_the_reference_library() -> None:
    old, new = new_secret(), new_secret()
    body = b'{"type":"incident.started","timestamp":"2026-01-01T00:00:00+00:00","data":{}}'
    headers = signing.headers([new, old], "msg_abc", int(time.time()), body)

    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(body, headers)["type"] == "incident.started"
    assert Webhook(new).verify(body, headers)["type"] == "incident.started"
    assert headers["webhook-id"] == "msg_abc"
