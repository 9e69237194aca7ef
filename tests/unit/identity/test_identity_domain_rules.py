"""Rules for key names, scopes, expiry, status, emails, user names, passwords and roles."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from fireline_identity.domain.errors import InvalidInput
from fireline_identity.domain.keys import (
    SCOPES,
    KeyStatus,
    check_expiry,
    has_room_for_another_key,
    normalize_key_name,
    normalize_scopes,
    status_of,
)
from fireline_identity.domain.users import (
    Role,
    User,
    check_password,
    email_lookup_key,
    normalize_email,
    normalize_user_name,
    parse_role,
    removes_an_admin,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"), [("ci", "ci"), ("  deploy bot \n", "deploy bot"), ("x" * 64, "x" * 64)]
)
def test_key_names_are_trimmed_and_kept(raw: str, expected: str) -> None:
    assert normalize_key_name(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "\t\n", "x" * 65, " " + "y" * 65 + " "])
def test_key_names_must_have_1_to_64_characters_after_trimming(raw: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_key_name(raw)
    assert err.value.field == "name"


def test_scopes_default_to_all_and_come_back_in_canonical_order() -> None:
    assert normalize_scopes(None) == SCOPES
    assert normalize_scopes(["integrations:read", "incidents:write", "incidents:write"]) == (
        "incidents:write",
        "integrations:read",
    )


@pytest.mark.parametrize("scopes", [["incidents:admin"], ["incidents:read", "INCIDENTS:READ"], []])
def test_unknown_or_empty_scopes_are_refused(scopes: list[str]) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_scopes(scopes)
    assert err.value.field == "scopes"


def test_expiry_must_be_an_aware_future_instant() -> None:
    check_expiry(None, now=NOW)
    check_expiry(NOW + timedelta(seconds=1), now=NOW)
    for bad in (NOW, NOW - timedelta(days=1), (NOW + timedelta(days=1)).replace(tzinfo=None)):
        with pytest.raises(InvalidInput):
            check_expiry(bad, now=NOW)


def test_status_revocation_wins_and_expiry_is_reached_at_the_instant() -> None:
    assert status_of(revoked_at=None, expires_at=None, now=NOW) is KeyStatus.ACTIVE
    assert status_of(revoked_at=None, expires_at=NOW, now=NOW) is KeyStatus.EXPIRED
    later = NOW + timedelta(seconds=1)
    assert status_of(revoked_at=None, expires_at=later, now=NOW) is KeyStatus.ACTIVE
    past = NOW - timedelta(days=1)
    assert status_of(revoked_at=NOW, expires_at=past, now=NOW) is KeyStatus.REVOKED


def test_an_org_has_room_for_ten_active_keys() -> None:
    assert has_room_for_another_key(0)
    assert has_room_for_another_key(9)
    assert not has_room_for_another_key(10)


def test_emails_are_trimmed_keep_their_case_and_compare_case_insensitively() -> None:
    assert normalize_email("  Ann.Lee@Example.COM \n") == "Ann.Lee@Example.COM"
    assert email_lookup_key(" Ann.Lee@Example.COM") == email_lookup_key("ann.lee@example.com")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "no-at",
        "@example.com",
        "ann@",
        "an n@example.com",
        "a\x00@x",
        "a" * 250 + "@x.io",
    ],
)
def test_malformed_emails_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_email(raw)
    assert err.value.field == "email"


def test_user_names_and_passwords() -> None:
    assert normalize_user_name("  Ann  ") == "Ann"
    with pytest.raises(InvalidInput):
        normalize_user_name("  ")
    check_password("x" * 12)
    check_password("correct horse battery staple")
    for bad in ("x" * 11, "", "x" * 257):
        with pytest.raises(InvalidInput) as err:
            check_password(bad)
        assert err.value.field == "password"


def test_roles() -> None:
    assert parse_role("admin") is Role.ADMIN
    assert parse_role("member") is Role.MEMBER
    with pytest.raises(InvalidInput):
        parse_role("Admin")


def test_demoting_or_deactivating_an_active_admin_removes_an_admin() -> None:
    admin = User(
        id=uuid.uuid4(),
        org_id=uuid.uuid4(),
        email="a@x.io",
        name="A",
        role=Role.ADMIN,
        active=True,
    )
    assert removes_an_admin(admin, replace(admin, role=Role.MEMBER))
    assert removes_an_admin(admin, replace(admin, active=False))
    assert not removes_an_admin(admin, replace(admin, name="B"))
    member = replace(admin, role=Role.MEMBER)
    assert not removes_an_admin(member, replace(member, active=False))
    inactive_admin = replace(admin, active=False)
    assert not removes_an_admin(inactive_admin, replace(inactive_admin, role=Role.MEMBER))
