"""API input under Fireline's text rule (``fireline_contracts.text``): refused, never stored.

Every request body model derives from :class:`RequestModel` and every free-text query parameter
is an :data:`InputText`, so a NUL or a lone surrogate anywhere in a request is a 400
``invalid_text`` problem (see ``problems.py``) before any use case runs, in every service alike.
Without this the text reached PostgreSQL, which refused it with a 500.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, field_validator
from pydantic_core import PydanticCustomError

from fireline_contracts.text import find_unstorable

UNSTORABLE_TEXT = "unstorable_text"
"""The pydantic error type of refused text; the problem handlers answer it with 400."""


def refuse_unstorable(value: Any) -> Any:
    """``value`` unchanged, or a validation error if any string in it cannot be stored."""
    found = find_unstorable(value)
    if found is not None:
        raise PydanticCustomError(
            UNSTORABLE_TEXT, "contains {char}, which cannot be stored", {"char": found}
        )
    return value


InputText = Annotated[str, AfterValidator(refuse_unstorable)]
"""A free-text query parameter (or field) held to the text rule."""


class RequestModel(BaseModel):
    """Base of every request body: each field's input is checked against the text rule."""

    @field_validator("*", mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return refuse_unstorable(value)
