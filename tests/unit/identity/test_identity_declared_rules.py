"""What the OpenAPI declares valid, the domain accepts: each declared ``pattern`` and
``maxLength`` describes a subset of what the normalisers take, so no schema-valid request is
refused by a rule the document does not state."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from fireline_contracts.text import NAME_PATTERN
from fireline_identity.domain.keys import (
    GRACE_PERIOD_MAX_MINUTES,
    SCOPES,
    grace_end,
    normalize_key_name,
    normalize_scopes,
)
from fireline_identity.domain.keys import NAME_MAX_LENGTH as KEY_NAME_MAX_LENGTH
from fireline_identity.domain.users import (
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    NAME_MAX_LENGTH,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    check_password,
    normalize_email,
    normalize_user_name,
)
from fireline_identity.entrypoints.schemas import KeyCreateRequest, UserCreateRequest
from support.declared import declared_text


def _declared(max_length: int, pattern: str) -> st.SearchStrategy[str]:
    return declared_text(max_length, pattern)


@given(_declared(KEY_NAME_MAX_LENGTH, NAME_PATTERN))
def test_a_declared_key_name_is_accepted(name: str) -> None:
    assert normalize_key_name(name) == name.strip()


@given(_declared(NAME_MAX_LENGTH, NAME_PATTERN))
def test_a_declared_user_name_is_accepted(name: str) -> None:
    assert normalize_user_name(name) == name.strip()


@given(_declared(EMAIL_MAX_LENGTH, EMAIL_PATTERN))
def test_a_declared_email_is_accepted(email: str) -> None:
    assert normalize_email(email) == email


@given(st.text(min_size=PASSWORD_MIN_LENGTH, max_size=PASSWORD_MAX_LENGTH))
def test_a_declared_password_is_accepted(password: str) -> None:
    check_password(password)


@given(st.integers(0, GRACE_PERIOD_MAX_MINUTES))
def test_a_declared_grace_period_is_accepted(minutes: int) -> None:
    grace_end(minutes, now=datetime(2030, 1, 1, tzinfo=UTC))


@given(st.lists(st.sampled_from(SCOPES), min_size=1))
def test_declared_scopes_are_accepted(scopes: list[str]) -> None:
    declared = KeyCreateRequest.model_json_schema()["properties"]["scopes"]
    assert declared["items"]["enum"] == list(SCOPES)
    assert set(normalize_scopes(scopes)) == set(scopes)


def test_the_openapi_carries_the_declared_rules() -> None:
    key_name = KeyCreateRequest.model_json_schema()["properties"]["name"]
    assert (key_name["maxLength"], key_name["pattern"]) == (KEY_NAME_MAX_LENGTH, NAME_PATTERN)
    email = UserCreateRequest.model_json_schema()["properties"]["email"]
    assert (email["maxLength"], email["pattern"]) == (EMAIL_MAX_LENGTH, EMAIL_PATTERN)
