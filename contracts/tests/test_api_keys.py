"""The API key format: recognisable, strong, and checked before any lookup."""

from __future__ import annotations

import hashlib
import math

import pytest

from fireline_contracts import api_keys as fmt


def test_a_generated_key_has_the_documented_shape() -> None:
    key = fmt.generate()
    assert key.startswith("flk_")
    assert len(key) == 4 + 27 + 6 == fmt.KEY_LENGTH
    assert set(key[4:]) <= set(fmt.ALPHABET)
    assert fmt.is_well_formed(key)


def test_the_random_part_carries_at_least_160_bits() -> None:
    assert fmt.ENTROPY_BITS >= 160
    assert fmt.RANDOM_LENGTH * math.log2(62) == pytest.approx(fmt.ENTROPY_BITS)
    keys = {fmt.generate() for _ in range(2000)}
    assert len(keys) == 2000
    # Every alphabet character shows up: the generator draws from all 62, not a subset.
    assert set("".join(k[4:31] for k in keys)) == set(fmt.ALPHABET)


def test_checksum_vectors_pin_the_algorithm_for_other_implementations() -> None:
    # auth mirrors this check; these values must never change.
    assert fmt.checksum("0" * 27) == "2MvMGi"
    assert fmt.checksum("abcdefghijklmnopqrstuvwxyzA") == "1s7RMY"
    assert fmt.is_well_formed("flk_" + "0" * 27 + "2MvMGi")
    assert fmt.base62(0, 6) == "000000"
    assert fmt.base62(2**32 - 1, 6) == "4gfFC3", "every CRC32 fits in 6 characters"


def test_any_single_character_typo_is_detected() -> None:
    key = fmt.generate()
    for position in range(4, len(key)):
        for replacement in fmt.ALPHABET:
            if replacement == key[position]:
                continue
            typo = key[:position] + replacement + key[position + 1 :]
            assert not fmt.is_well_formed(typo), (position, replacement)


def test_swapped_neighbours_are_detected() -> None:
    key = fmt.generate()
    for position in range(4, 4 + 26):
        a, b = key[position], key[position + 1]
        if a == b:
            continue
        swapped = key[:position] + b + a + key[position + 2 :]
        assert not fmt.is_well_formed(swapped)


@pytest.mark.parametrize(
    "candidate",
    [
        "",
        "flk_",
        "flk" + "0" * 27 + "2MvMGi",
        "FLK_" + "0" * 27 + "2MvMGi",
        "flk-" + "0" * 27 + "2MvMGi",
        "flk_" + "0" * 26 + "2MvMGi",
        "flk_" + "0" * 28 + "2MvMGi",
        "flk_" + "0" * 27 + "2MvMGi ",
        " flk_" + "0" * 27 + "2MvMGi",
        "flk_" + "0" * 26 + "-" + "2MvMGi",
        "flk_" + "0" * 26 + "é" + "2MvMGi",
        "Bearer flk_" + "0" * 27 + "2MvMGi",
    ],
)
def test_malformed_keys_are_refused(candidate: str) -> None:
    assert not fmt.is_well_formed(candidate)


def test_only_a_sha256_digest_and_a_short_hint_are_derived_for_storage() -> None:
    key = fmt.generate()
    assert fmt.digest(key) == hashlib.sha256(key.encode()).hexdigest()
    assert len(fmt.digest(key)) == 64
    assert fmt.hint(key) == "flk_" + key[-4:]
