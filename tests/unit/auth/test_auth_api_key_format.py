"""Malformed keys are refused before any lookup; auth reads keys exactly as identity writes them."""

from __future__ import annotations

import zlib

import pytest

from fireline_auth.domain import api_key_format as fmt
from fireline_identity.domain import api_key_format as identity_fmt


def test_a_generated_key_is_well_formed_and_carries_160_bits() -> None:
    key = fmt.generate()
    assert key.startswith("flk_")
    assert len(key) == 4 + 27 + 6
    assert 62**27 >= 2**160
    assert fmt.is_well_formed(key)


def test_checksum_is_base62_crc32_left_padded_to_six() -> None:
    random_part = "a" * 27
    crc = zlib.crc32(random_part.encode())
    digits = ""
    n = crc
    while n:
        n, r = divmod(n, 62)
        digits = fmt.ALPHABET[r] + digits
    assert fmt.checksum(random_part) == digits.rjust(6, "0")
    assert fmt.base62(0) == "0"
    assert fmt.base62(61) == "z"
    assert fmt.base62(62) == "10"


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda k: k.replace("flk_", "flx_"), id="wrong prefix"),
        pytest.param(lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"), id="checksum typo"),
        pytest.param(lambda k: k[:8] + ("x" if k[8] != "x" else "y") + k[9:], id="body typo"),
        pytest.param(lambda k: "flk_" + k[5:], id="too short"),
        pytest.param(lambda k: k[:10] + "-" + k[11:], id="not base62"),
        pytest.param(lambda k: k + " ", id="trailing space"),
        pytest.param(lambda k: "", id="empty"),
        pytest.param(lambda k: "flk_" + "0" * 500, id="huge"),
    ],
)
def test_malformed_keys_are_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    assert not fmt.is_well_formed(mutate(fmt.generate()))


def test_auth_and_identity_agree_on_the_format() -> None:
    for _ in range(200):
        assert fmt.is_well_formed(identity_fmt.generate())
        key = fmt.generate()
        assert identity_fmt.is_well_formed(key)
        assert fmt.digest(key) == identity_fmt.digest(key)
    for random_part in ("0" * 27, "z" * 27, "Zz09" * 7):
        assert fmt.checksum(random_part) == identity_fmt.checksum(random_part)


def test_digest_is_lowercase_hex_sha256() -> None:
    d = fmt.digest("flk_x")
    assert len(d) == 64
    assert d == d.lower()
    assert all(c in "0123456789abcdef" for c in d)
