"""A token gets the requested scopes only if the key has them; otherwise invalid_scope."""

from __future__ import annotations

import pytest

from fireline_auth.domain.errors import InvalidScope
from fireline_auth.domain.scopes import format_scope, grant, parse_scope

KEY_SCOPES = ("incidents:read", "incidents:write")


def test_no_requested_scope_grants_all_of_the_keys() -> None:
    assert grant(parse_scope(None), KEY_SCOPES) == ("incidents:read", "incidents:write")
    assert grant(parse_scope(""), KEY_SCOPES) == ("incidents:read", "incidents:write")
    assert grant(parse_scope("   "), KEY_SCOPES) == ("incidents:read", "incidents:write")


def test_a_subset_is_granted_as_requested() -> None:
    assert grant(parse_scope("incidents:read"), KEY_SCOPES) == ("incidents:read",)
    both = grant(parse_scope("incidents:write  incidents:read"), KEY_SCOPES)
    assert format_scope(both) == "incidents:read incidents:write"


@pytest.mark.parametrize(
    "requested",
    ["integrations:read", "incidents:read integrations:write", "incidents:admin"],
)
def test_a_scope_beyond_the_keys_is_refused(requested: str) -> None:
    with pytest.raises(InvalidScope):
        grant(parse_scope(requested), KEY_SCOPES)


@pytest.mark.parametrize("requested", ['incidents:"read"', "incidents\\read", "x" * 2000])
def test_malformed_scopes_are_refused(requested: str) -> None:
    with pytest.raises(InvalidScope):
        parse_scope(requested)


def test_a_key_without_scopes_gets_an_empty_scope() -> None:
    assert format_scope(grant(None, ())) == ""
    with pytest.raises(InvalidScope):
        grant(parse_scope("incidents:read"), ())
