"""API input under Fireline's text rule (``fireline_contracts.text``): refused, never stored.

Every request body model derives from :class:`RequestModel` and every free-text query parameter
is an :data:`InputText`, so a NUL or a lone surrogate anywhere in a request is a 400
``invalid_text`` problem (see ``problems.py``) before any use case runs, in every service alike.
Without this the text reached PostgreSQL, which refused it with a 500.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError

from fireline_contracts.text import NAME_PATTERN, find_unstorable

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


MAX_RAW_TEXT_LENGTH = 1000
"""The longest text field read at all; the domain's own, shorter limits apply after trimming."""


def declared_text_field(
    max_length: int, pattern: str, description: str | None = None, *, default: Any = ...
) -> Any:
    """A text field whose OpenAPI declares the rule the domain enforces.

    ``maxLength`` and ``pattern`` describe a subset of what the service accepts (the domain trims
    surrounding whitespace before it measures), so everything the document calls valid is
    accepted; what it calls invalid is refused by the domain with 422 and the reason.
    """
    return Field(
        default,
        max_length=MAX_RAW_TEXT_LENGTH,
        description=description,
        json_schema_extra={"maxLength": max_length, "pattern": pattern},
    )


def name_field(max_length: int, description: str, *, default: Any = ...) -> Any:
    """A name's request field (``fireline_contracts.text.NAME_PATTERN``)."""
    return declared_text_field(max_length, NAME_PATTERN, description, default=default)


class RequestModel(BaseModel):
    """Base of every request body: each field's input is checked against the text rule."""

    @field_validator("*", mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return refuse_unstorable(value)
