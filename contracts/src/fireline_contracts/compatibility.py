"""Backward-compatibility check between two JSON Schemas of one event version.

"Compatible" means a consumer built against the new schema can still read every event written
under the old one: Kafka keeps old events (compacted topics forever), and consumers replay them.
So the new schema may accept more than the old one, never less: removed properties (events
carrying them are refused, models forbid extra fields), newly required properties, changed types,
narrowed enums or constants and tightened limits are reported; an added optional property is not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any]

# Keys that document a schema without constraining what it accepts.
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "deprecated"})
# Limits where a larger value in the new schema accepts less ...
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
# ... and where a smaller one does.
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


def compatibility_problems(old_schema: Schema, new_schema: Schema) -> list[str]:
    """Every change that stops ``new_schema`` from accepting data valid under ``old_schema``.

    Both are pydantic ``model_json_schema()`` documents; ``$ref``s into their ``$defs`` are
    followed, so changes inside nested models are found too. An empty list means compatible.
    """
    checker = _Checker(old_schema.get("$defs", {}), new_schema.get("$defs", {}))
    return checker.compare(old_schema, new_schema, "(root)")


class _Checker:
    def __init__(self, old_defs: Schema, new_defs: Schema) -> None:
        self._old_defs = old_defs
        self._new_defs = new_defs
        # Pairs of definitions being compared further up the stack, so recursive models end.
        self._active: set[tuple[str, str]] = set()

    def compare(self, old: Schema, new: Schema, path: str) -> list[str]:
        old_refs, old = self._resolve(old, self._old_defs)
        new_refs, new = self._resolve(new, self._new_defs)
        pairs = {(o, n) for o in old_refs for n in new_refs}
        if pairs and pairs <= self._active:
            return []
        entered = pairs - self._active
        self._active |= entered
        try:
            return self._compare_resolved(old, new, path)
        finally:
            self._active -= entered

    def _compare_resolved(self, old: Schema, new: Schema, path: str) -> list[str]:
        old_variants = self._variants(old, self._old_defs)
        new_variants = self._variants(new, self._new_defs)
        if len(old_variants) == 1 and len(new_variants) == 1:
            if old_variants[0] is old and new_variants[0] is new:
                return self._compare_single(old, new, path)
            # A one-option anyOf: compare what it wraps.
            return self.compare(old_variants[0], new_variants[0], path)

        problems: list[str] = []
        for old_variant in old_variants:
            # Variants keep their $ref so that compare() can spot recursion through a union.
            attempts = [
                (candidate, self.compare(old_variant, candidate, path))
                for candidate in new_variants
            ]
            if any(not found for _, found in attempts):
                continue
            _, old_resolved = self._resolve(old_variant, self._old_defs)
            old_types = _types(old_resolved)
            # Report the detail of the one variant that plainly was meant to replace this one;
            # otherwise the old variant simply has no counterpart any more.
            kindred = [
                found
                for candidate, found in attempts
                if old_types is not None
                and old_types == _types(self._resolve(candidate, self._new_defs)[1])
            ]
            if len(kindred) == 1:
                problems.extend(kindred[0])
            else:
                problems.append(f"{path}: no longer accepts {_describe(old_resolved)}")
        return problems

    def _compare_single(self, old: Schema, new: Schema, path: str) -> list[str]:
        if _is_unconstrained(new):
            return []
        if _is_unconstrained(old):
            return [f"{path}: now restricted to {_describe(new)}, was unconstrained"]

        old_types, new_types = _types(old), _types(new)
        if new_types is not None and (
            old_types is None or not _types_covered(old_types, new_types)
        ):
            return [f"{path}: type changed from {_describe(old)} to {_describe(new)}"]

        problems: list[str] = []
        problems += _value_problems(old, new, path)
        problems += _limit_problems(old, new, path)
        if "properties" in old or "properties" in new:
            problems += self._object_problems(old, new, path)
        if "items" in new:
            if "items" in old:
                problems += self.compare(old["items"], new["items"], f"{path}[]")
            else:
                problems.append(f"{path}: array items now restricted to {_describe(new['items'])}")
        return problems

    def _object_problems(self, old: Schema, new: Schema, path: str) -> list[str]:
        old_props: Schema = old.get("properties", {})
        new_props: Schema = new.get("properties", {})
        old_required = set(old.get("required", ()))
        problems: list[str] = []
        # A free-form object (no properties listed, extras allowed) still accepts what was removed.
        if "properties" in new or new.get("additionalProperties") is False:
            for name in old_props:
                if name not in new_props:
                    problems.append(f"{path}.{name}: property removed")
        for name in new.get("required", ()):
            if name in old_required:
                continue
            if name in old_props:
                problems.append(f"{path}.{name}: property became required")
            else:
                problems.append(f"{path}.{name}: new required property")
        for name, old_prop in old_props.items():
            if name in new_props:
                problems += self.compare(old_prop, new_props[name], f"{path}.{name}")
        if (
            new.get("additionalProperties") is False
            and old.get("additionalProperties") is not False
        ):
            problems.append(f"{path}: additional properties no longer allowed")
        return problems

    def _resolve(self, node: Schema, defs: Schema) -> tuple[list[str], Schema]:
        """Follow ``$ref`` (and pydantic's single-element ``allOf`` wrapper) to the definition."""
        refs: list[str] = []
        while True:
            if "$ref" in node:
                ref = str(node["$ref"])
                refs.append(ref)
                rest = {k: v for k, v in node.items() if k != "$ref"}
                node = {**_definition(ref, defs), **_constraints(rest)}
            elif isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
                rest = {k: v for k, v in node.items() if k != "allOf"}
                node = {**node["allOf"][0], **_constraints(rest)}
            else:
                return refs, node

    def _variants(self, node: Schema, defs: Schema) -> list[Schema]:
        """The alternatives of an ``anyOf``/``oneOf``, flattened; a plain node is its own one."""
        for key in ("anyOf", "oneOf"):
            if isinstance(node.get(key), list):
                variants: list[Schema] = []
                for option in node[key]:
                    _, resolved = self._resolve(option, defs)
                    nested = self._variants(resolved, defs)
                    variants += nested if len(nested) > 1 else [option]
                return variants
        return [node]


def _definition(ref: str, defs: Schema) -> Schema:
    prefix = "#/$defs/"
    if not ref.startswith(prefix) or ref[len(prefix) :] not in defs:
        raise ValueError(
            f"cannot resolve $ref {ref!r}; only local #/$defs/ references are supported"
        )
    definition: Schema = defs[ref[len(prefix) :]]
    return definition


def _constraints(node: Schema) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in _ANNOTATIONS}


def _is_unconstrained(node: Schema) -> bool:
    return not _constraints(node)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _types(node: Schema) -> frozenset[str] | None:
    """The JSON types a node admits, or None when it does not restrict the type."""
    declared = node.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(declared)
    if "properties" in node:
        return frozenset({"object"})
    values = _allowed_values(node)
    if values is not None:
        return frozenset(_json_type(json.loads(v)) for v in values)
    return None


def _types_covered(old: frozenset[str], new: frozenset[str]) -> bool:
    # Every integer is a JSON number, so integer -> number widens rather than changes.
    widened = new | {"integer"} if "number" in new else new
    return old <= widened


def _allowed_values(node: Schema) -> frozenset[str] | None:
    """The exact values a node admits (JSON-encoded, so they hash), or None when unbounded."""
    if "const" in node:
        return frozenset({json.dumps(node["const"], sort_keys=True)})
    if isinstance(node.get("enum"), list):
        return frozenset(json.dumps(v, sort_keys=True) for v in node["enum"])
    return None


def _value_problems(old: Schema, new: Schema, path: str) -> list[str]:
    problems: list[str] = []
    new_values = _allowed_values(new)
    if new_values is not None:
        old_values = _allowed_values(old)
        if old_values is None:
            problems.append(f"{path}: now restricted to {sorted(new_values)}, was any value")
        elif lost := old_values - new_values:
            problems.append(f"{path}: no longer accepts {', '.join(sorted(lost))}")
    if "format" in new and new.get("format") != old.get("format"):
        problems.append(f"{path}: format changed from {old.get('format')!r} to {new['format']!r}")
    if "pattern" in new and new.get("pattern") != old.get("pattern"):
        problems.append(
            f"{path}: pattern changed from {old.get('pattern')!r} to {new['pattern']!r}"
        )
    return problems


def _limit_problems(old: Schema, new: Schema, path: str) -> list[str]:
    problems: list[str] = []
    for key in _LOWER_BOUNDS:
        if key in new and (key not in old or new[key] > old[key]):
            problems.append(f"{path}: {key} tightened from {old.get(key)!r} to {new[key]!r}")
    for key in _UPPER_BOUNDS:
        if key in new and (key not in old or new[key] < old[key]):
            problems.append(f"{path}: {key} tightened from {old.get(key)!r} to {new[key]!r}")
    return problems


def _describe(node: Schema) -> str:
    values = _allowed_values(node)
    if values is not None:
        return " | ".join(sorted(values))
    if "title" in node and "properties" in node:
        return f"object {node['title']}"
    types = _types(node)
    if types is None:
        return "any value"
    described = " | ".join(sorted(types))
    return f"{described} ({node['format']})" if "format" in node else described
