"""What the integrations API's OpenAPI declares valid, the domain accepts (the rules themselves
are enforced by ``domain/integration.py``, which trims before it measures)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from fireline_contracts.text import NAME_PATTERN
from fireline_pagerduty_ingest.domain.integration import (
    MAX_LABEL_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PRIORITY_MAPPINGS,
    MAX_SECRET_LENGTH,
    MIN_SECRET_LENGTH,
    clean_label,
    clean_name,
    clean_priority_severities,
    clean_secret,
)
from fireline_pagerduty_ingest.entrypoints.schemas import CreateIntegrationIn
from support.declared import declared_text

_SCHEMA = CreateIntegrationIn.model_json_schema()["properties"]
_SECRET = _SCHEMA["signing_secrets"]["items"]
_LABEL = _SCHEMA["priority_severities"]["additionalProperties"]


@given(declared_text(MAX_NAME_LENGTH, NAME_PATTERN))
def test_a_declared_integration_name_is_accepted(name: str) -> None:
    assert clean_name(name) == name.strip()


_EDGE = st.characters().filter(lambda char: not char.isspace())


@given(
    st.builds(
        lambda first, middle, last: first + middle + last,
        _EDGE,
        st.text(st.characters(exclude_characters="\n"), min_size=14, max_size=254),
        _EDGE,
    )
)
def test_a_declared_signing_secret_is_accepted(secret: str) -> None:
    assert (_SECRET["minLength"], _SECRET["maxLength"]) == (MIN_SECRET_LENGTH, MAX_SECRET_LENGTH)
    # Everything drawn here is declared valid; what the domain makes of it must be the same.
    assert re.fullmatch(_SECRET["pattern"], secret)
    assert clean_secret(secret) == secret


@given(st.text(max_size=MAX_LABEL_LENGTH))
def test_a_declared_label_is_accepted(label: str) -> None:
    clean_label(label, "default_severity")


@given(
    st.dictionaries(
        declared_text(_LABEL["maxLength"], _LABEL["pattern"]),
        declared_text(_LABEL["maxLength"], _LABEL["pattern"]),
        max_size=MAX_PRIORITY_MAPPINGS,
    ).filter(lambda mapping: len({name.strip().casefold() for name in mapping}) == len(mapping))
)
def test_a_declared_priority_map_is_accepted(mapping: dict[str, str]) -> None:
    # Names that differ only in case (or surrounding space) are the one rule JSON Schema cannot
    # state; the description says names compare case-insensitively.
    assert len(clean_priority_severities(mapping)) == len(mapping)
