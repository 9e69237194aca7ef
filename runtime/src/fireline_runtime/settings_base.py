"""How every Fireline setting is named in the environment, in one place.

A setting's variable is ``FIRELINE_`` plus its field name in capitals (``topic_prefix`` is read
from ``FIRELINE_TOPIC_PREFIX``), except the two infrastructure addresses every PostgreSQL and
Kafka tool already names, ``DATABASE_URL`` and ``KAFKA_BOOTSTRAP_SERVERS``, which their fields
declare as aliases. Code reads ``settings.topic_prefix``; the prefix never reaches a call site.
"""

from __future__ import annotations

from pydantic.fields import FieldInfo

ENV_PREFIX = "FIRELINE_"
"""Every settings class says ``SettingsConfigDict(env_prefix=ENV_PREFIX, ...,
populate_by_name=True)``: written out in each, so pydantic's mypy plugin sees that a field with an
alias may still be given by its name (tests and tools build settings from keyword arguments)."""


def env_name(name: str, field: FieldInfo) -> str:
    """The environment variable a settings field is read from."""
    alias = field.validation_alias
    return alias if isinstance(alias, str) else ENV_PREFIX + name.upper()
