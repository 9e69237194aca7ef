"""Client authentication parsing at the OAuth endpoints (RFC 6749 §2.3.1)."""

from __future__ import annotations

import base64
import urllib.parse

import pytest

from fireline_auth.domain.client_auth import parse_bare_key, parse_client_credentials
from fireline_auth.domain.errors import ClientAuthMethod, InvalidClient, InvalidRequest


def basic(user: str, password: str, *, urlencode: bool = True) -> str:
    if urlencode:
        user, password = urllib.parse.quote_plus(user), urllib.parse.quote_plus(password)
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_credentials_are_form_urldecoded() -> None:
    creds = parse_client_credentials(authorization=basic("id:1 +x", "s%e c:ret"), form={})
    assert creds.client_id == "id:1 +x"
    assert creds.client_secret == "s%e c:ret"
    assert creds.method is ClientAuthMethod.BASIC


def test_basic_scheme_name_is_case_insensitive() -> None:
    header = basic("abc", "flk_secret").replace("Basic", "bAsIc")
    assert parse_client_credentials(authorization=header, form={}).client_id == "abc"


def test_form_credentials() -> None:
    creds = parse_client_credentials(
        authorization=None, form={"client_id": "abc", "client_secret": "flk_s"}
    )
    assert (creds.client_id, creds.client_secret, creds.method) == (
        "abc",
        "flk_s",
        ClientAuthMethod.POST,
    )


def test_both_methods_in_one_request_are_invalid_request() -> None:
    with pytest.raises(InvalidRequest):
        parse_client_credentials(
            authorization=basic("abc", "flk_s"), form={"client_id": "abc", "client_secret": "x"}
        )
    with pytest.raises(InvalidRequest):
        parse_client_credentials(authorization=basic("abc", "flk_s"), form={"client_id": "other"})


def test_a_matching_client_id_next_to_basic_is_tolerated() -> None:
    creds = parse_client_credentials(authorization=basic("abc", "flk_s"), form={"client_id": "abc"})
    assert creds.method is ClientAuthMethod.BASIC


@pytest.mark.parametrize(
    ("authorization", "form", "method"),
    [
        (None, {}, ClientAuthMethod.NONE),
        (None, {"client_id": "abc"}, ClientAuthMethod.NONE),
        (None, {"client_secret": "flk_s"}, ClientAuthMethod.NONE),
        ("Bearer something", {}, ClientAuthMethod.NONE),
        ("Basic !!!notbase64", {}, ClientAuthMethod.BASIC),
        ("Basic " + base64.b64encode(b"no-colon").decode(), {}, ClientAuthMethod.BASIC),
    ],
)
def test_missing_or_broken_credentials_are_invalid_client(
    authorization: str | None, form: dict[str, str], method: ClientAuthMethod
) -> None:
    with pytest.raises(InvalidClient) as caught:
        parse_client_credentials(authorization=authorization, form=form)
    assert caught.value.method is method


def test_credentials_repr_hides_the_secret() -> None:
    creds = parse_client_credentials(authorization=basic("abc", "flk_topsecret"), form={})
    assert "flk_topsecret" not in repr(creds)


@pytest.mark.parametrize(
    ("header", "key"),
    [("flk_abc", "flk_abc"), ("Bearer flk_abc", "flk_abc"), ("bearer  flk_abc ", "flk_abc")],
)
def test_bare_key_with_and_without_bearer(header: str, key: str) -> None:
    assert parse_bare_key(header) == key


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic a b"])
def test_bare_key_missing_is_invalid_client(header: str | None) -> None:
    with pytest.raises(InvalidClient):
        parse_bare_key(header)
