"""Values an OpenAPI document declares valid, for properties that the service accepts them all."""

from __future__ import annotations

import re

from hypothesis import strategies as st


def declared_text(max_length: int, pattern: str, min_length: int = 0) -> st.SearchStrategy[str]:
    """Strings matching the JSON Schema ``pattern`` with a length in the declared range."""
    return st.from_regex(re.compile(pattern), fullmatch=True).filter(
        lambda text: min_length <= len(text) <= max_length
    )
