"""The one rule for text Fireline can hold, shared by every service, event and API.

PostgreSQL ``text`` cannot store U+0000, and a lone UTF-16 surrogate (U+D800-U+DFFF without its
pair) is not a Unicode scalar value: it cannot be encoded as UTF-8, so neither PostgreSQL nor a
JSON serialiser accepts it. Both arrive easily: JSON's ``"\\u0000"`` and ``"\\ud800"`` escapes
decode to them. Everything else (right-to-left marks, other control characters, long strings) is
valid text and is kept as sent.

Two ways to apply the rule, and where each is used:

* **refuse** (:func:`first_unstorable`) for input a person or program can correct: API requests
  answer 400 ``invalid_text`` and change nothing;
* **normalise** (:func:`normalise_text`, :func:`normalise_strings`) for input that must not be
  refused: PagerDuty drops a delivery answered 4xx, so the webhook receiver replaces each such
  character with U+FFFD (keeping the raw body), and every event model normalises what it is built
  from, so no consumer ever holds text it cannot store.
"""

from __future__ import annotations

import json
import re
from typing import Any

REPLACEMENT = "\ufffd"
"""U+FFFD REPLACEMENT CHARACTER: what an unstorable character becomes when normalised."""

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def first_unstorable(text: str) -> str | None:
    """The first character of ``text`` Fireline cannot store (as ``U+XXXX``), or None."""
    found = _UNSTORABLE.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


# C0 controls (tab and newline included: a name is one line), DEL, C1 controls, and the Unicode
# bidirectional controls that reorder what is displayed around them (the "Trojan Source" set:
# ALM, LRM, RLM, LRE/RLE/PDF/LRO/RLO, LRI/RLI/FSI/PDI).
_CONTROL_CLASS = r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_NAME_CONTROLS = re.compile(f"[{_CONTROL_CLASS}]")

NAME_PATTERN = f"^[^{_CONTROL_CLASS}]*[^\\s{_CONTROL_CLASS}][^{_CONTROL_CLASS}]*$"
"""The name rule as a JSON Schema ``pattern`` (ECMA-262 and Python alike): something besides
whitespace, and none of the characters :func:`first_name_control` finds. With a ``maxLength`` it
declares a subset of what the trimming normalisers accept, so a name valid by the OpenAPI is
never refused."""


def first_name_control(text: str) -> str | None:
    """The first control or bidi character in ``text`` (as ``U+XXXX``), or None.

    Only for names (of keys, users, orgs, integrations): shown in lists, logs and audit entries,
    where an escape sequence, a line break or a right-to-left override would disguise them.
    Free text (titles, notes) keeps every storable character.
    """
    found = _NAME_CONTROLS.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def normalise_text(text: str) -> str:
    """``text`` with every unstorable character replaced by U+FFFD (the same object if none)."""
    if text.isascii():
        # Nearly every string: ASCII holds no surrogate, so only NUL can be in it, and both
        # checks cost a fraction of a regular expression search (every event model runs this on
        # every string it is built from).
        return text.replace("\x00", REPLACEMENT) if "\x00" in text else text
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(REPLACEMENT, text)


def normalise_strings(value: Any) -> Any:
    """``value`` with every string in it (keys too, at any depth) normalised."""
    if isinstance(value, str):
        return normalise_text(value)
    if isinstance(value, dict):
        return {normalise_strings(k): normalise_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(normalise_strings(v) for v in value)
    return value


def normalise_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """A call's keyword arguments with every string in their values normalised, in place: the
    dict is the call's own, and the names are Python identifiers, which hold no such character.

    Every event model's constructor runs this on its arguments (the stack builds at least two
    events per PagerDuty delivery: the alert, then the incident's), so values that hold no string
    are taken as they are without a call each: a number, id, time or nested model (itself built
    this way).
    """
    for name, value in arguments.items():
        if isinstance(value, str):
            arguments[name] = normalise_text(value)
        elif isinstance(value, dict | list | tuple):
            arguments[name] = normalise_strings(value)
    return arguments


# What could decode to NUL or a lone surrogate in a JSON document: a \u escape of one, or the
# character itself (a str handed in, or bytes holding an encoded surrogate, which json.loads lets
# through). Without any, no string in it needs normalising. An escaped surrogate pair (an emoji)
# or an escaped backslash before "u0000" also matches: those documents merely take a slower path.
_UNSTORABLE_JSON_TEXT = re.compile("\\\\u(?:0000|[dD][89a-fA-F])|[\x00\ud800-\udfff]")
_UNSTORABLE_JSON_BYTES = re.compile(b"\\\\u(?:0000|[dD][89a-fA-F])|\x00|\xed[\xa0-\xbf]")


def json_may_hold_unstorable(document: bytes | bytearray | str) -> bool:
    """False when no string in the JSON ``document`` can decode to an unstorable character."""
    if isinstance(document, str):
        return _UNSTORABLE_JSON_TEXT.search(document) is not None
    return _UNSTORABLE_JSON_BYTES.search(document) is not None


def json_text(document: bytes | bytearray | str) -> str:
    """A JSON document's text, decoded as ``json.loads`` would decode bytes (UTF-8, -16 or -32;
    an encoded lone surrogate passed through, for normalising). ``UnicodeDecodeError`` if it
    does not decode."""
    if isinstance(document, str):
        return document
    raw = bytes(document)
    return raw.decode(json.detect_encoding(raw), "surrogatepass")


def find_unstorable(value: Any) -> str | None:
    """The first unstorable character in any string of ``value`` (keys too), or None."""
    if isinstance(value, str):
        return first_unstorable(value)
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return None
    for item in items:
        found = find_unstorable(item)
        if found is not None:
            return found
    return None
