"""PagerDuty webhook signatures: only bodies signed with an active secret are trusted."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from fireline_pagerduty_ingest.domain.signature import header_for, sign, verify
from support.pagerduty_fixtures import delivery, raw_variant_body, signed

BODY = delivery("incident_triggered")
SECRET = "whsec-current-7f3a9c"
OLD_SECRET = "whsec-previous-1b2d4e"


def _hex(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def test_sign_is_hmac_sha256_over_the_raw_body_keyed_by_the_secrets_utf8_bytes() -> None:
    secret = "sécret-with-ünïcode"

    assert sign(BODY, secret) == "v1=" + _hex(BODY, secret)


def test_a_body_signed_with_the_secret_verifies() -> None:
    assert verify(BODY, sign(BODY, SECRET), [SECRET])


def test_the_fixture_headers_carry_a_signature_the_receiver_accepts() -> None:
    headers = signed(BODY, [OLD_SECRET, SECRET])

    assert headers["X-PagerDuty-Signature"] == header_for(BODY, [OLD_SECRET, SECRET])
    assert verify(BODY, headers["X-PagerDuty-Signature"], [SECRET])


def test_a_header_whose_second_v1_value_matches_verifies() -> None:
    header = f"v1={_hex(BODY, 'some-other-secret')},v1={_hex(BODY, SECRET)}"

    assert verify(BODY, header, [SECRET])


@pytest.mark.parametrize(
    ("signing_secrets", "active_secrets"),
    [
        # PagerDuty signs with both while a rotation is under way...
        ([OLD_SECRET, SECRET], [SECRET]),
        ([OLD_SECRET, SECRET], [OLD_SECRET]),
        # ...and the receiver may hold both while PagerDuty still signs with one.
        ([OLD_SECRET], [OLD_SECRET, SECRET]),
        ([SECRET], [OLD_SECRET, SECRET]),
    ],
)
def test_during_a_secret_rotation_either_secret_is_enough(
    signing_secrets: list[str], active_secrets: list[str]
) -> None:
    assert verify(BODY, header_for(BODY, signing_secrets), active_secrets)


def test_a_body_signed_with_another_secret_is_refused() -> None:
    assert not verify(BODY, sign(BODY, "attacker-guess"), [SECRET, OLD_SECRET])


def test_a_tampered_body_is_refused() -> None:
    header = sign(BODY, SECRET)
    tampered = BODY.replace(b'"triggered"', b'"resolved"', 1)

    assert tampered != BODY
    assert not verify(tampered, header, [SECRET])


@pytest.mark.parametrize("header", [None, "", "   "])
def test_a_missing_or_empty_header_is_refused(header: str | None) -> None:
    assert not verify(BODY, header, [SECRET])


def test_nothing_verifies_when_no_secret_is_configured() -> None:
    assert not verify(BODY, sign(BODY, SECRET), [])


def test_a_header_with_only_other_signature_versions_is_refused() -> None:
    # The right digest under a version PagerDuty does not use must not be accepted as v1.
    assert not verify(BODY, f"v0={_hex(BODY, SECRET)}", [SECRET])


def test_other_versions_next_to_a_valid_v1_are_ignored() -> None:
    header = f"v0=deadbeef, v2={_hex(BODY, SECRET)} , v1={_hex(BODY, SECRET)}"

    assert verify(BODY, header, [SECRET])


def test_the_raw_body_verifies_but_the_same_json_re_serialised_does_not() -> None:
    raw = raw_variant_body()
    reserialised = json.dumps(json.loads(raw)).encode("utf-8")
    header = sign(raw, SECRET)

    assert raw != reserialised
    assert verify(raw, header, [SECRET])
    assert not verify(reserialised, header, [SECRET])


def test_hex_digits_are_compared_case_insensitively() -> None:
    # PagerDuty sends lowercase; an upper-case rendering is the same digest, not a forgery.
    header = "v1=" + _hex(BODY, SECRET).upper()

    assert verify(BODY, header, [SECRET])


def test_whitespace_around_header_items_is_tolerated() -> None:
    header = f"  v1 = {_hex(BODY, 'other')} ,\tv1={_hex(BODY, SECRET)}  "

    assert verify(BODY, header, [SECRET])


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "v1=",
        "v1",
        "=",
        ",,,",
        "v1=" + "z" * 64,
        "v1=" + "a" * 64,
        "v1=" + "ü" * 64,
        "v1=" + "a" * 63,
        "v1=" + "a" * 65,
        "v1=" + "\x00" * 64,
    ],
)
def test_junk_headers_are_refused_without_raising(header: str) -> None:
    assert not verify(BODY, header, [SECRET])


def test_a_single_secret_string_is_refused_as_a_programming_error() -> None:
    # A bare str would be iterated character by character and never verify anything.
    with pytest.raises(TypeError, match="sequence"):
        verify(BODY, sign(BODY, SECRET), SECRET)
    with pytest.raises(TypeError, match="sequence"):
        header_for(BODY, SECRET)
