"""Committed JSON-Schema snapshots of every event, so each contract change shows up in review.

    python -m fireline_contracts.snapshots --write   # regenerate after changing a contract
    python -m fireline_contracts.snapshots --check   # exit 1 if a snapshot is missing or stale

Snapshots of older schema versions are left in place: they document what old events on the
topics look like, which is what the upcasters translate from.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fireline_contracts.compatibility import compatibility_problems
from fireline_contracts.envelope import EventEnvelope
from fireline_contracts.registry import EVENT_TYPES

# The snapshots live beside the package sources (contracts/schemas), not inside the package:
# they are review artefacts of the repository, and this tool runs from an editable install.
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"

REGENERATE_COMMAND = "python -m fireline_contracts.snapshots --write"


def event_schema(event: type[EventEnvelope]) -> dict[str, Any]:
    """The event's JSON Schema, as pydantic generates it for validation."""
    return event.model_json_schema()


def render_schema(schema: dict[str, Any]) -> str:
    """A schema in its committed form: sorted keys, two-space indent, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def snapshot_path(event: type[EventEnvelope], directory: Path = SCHEMA_DIR) -> Path:
    """Where the snapshot of the event's current schema version lives."""
    name = event.declared_event_type()
    return directory / f"{name}.v{event.declared_schema_version()}.json"


def write_snapshots(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every event's current snapshot; returns the files whose content changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed: list[Path] = []
    for event in EVENT_TYPES.values():
        path = snapshot_path(event, directory)
        text = render_schema(event_schema(event))
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def snapshot_problems(event: type[EventEnvelope], directory: Path = SCHEMA_DIR) -> list[str]:
    """Why the event's committed snapshot does not match its model; empty when it does."""
    path = snapshot_path(event, directory)
    name = f"{event.declared_event_type()} v{event.declared_schema_version()}"
    if not path.exists():
        return [f"{name}: no snapshot at {path.name}; run `{REGENERATE_COMMAND}`"]
    current = event_schema(event)
    committed_text = path.read_text(encoding="utf-8")
    if committed_text == render_schema(current):
        return []
    incompatible = compatibility_problems(json.loads(committed_text), current)
    if not incompatible:
        return [
            f"{name}: schema differs from {path.name} in a backward-compatible way; "
            f"run `{REGENERATE_COMMAND}` and commit the snapshot"
        ]
    return [
        f"{name}: schema differs from {path.name} and can no longer read events written under "
        "it. Keep this version readable: give the changed model the next schema_version, register "
        f"an upcaster in fireline_contracts.registry.UPCASTERS, then run `{REGENERATE_COMMAND}`. "
        "Incompatible changes:",
        *(f"  {problem}" for problem in incompatible),
    ]


def check_snapshots(directory: Path = SCHEMA_DIR) -> list[str]:
    """Problems with every event's snapshot; empty when all match."""
    return [line for event in EVENT_TYPES.values() for line in snapshot_problems(event, directory)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fireline_contracts.snapshots",
        description="Write or check the committed JSON-Schema snapshots of every event.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="regenerate the snapshots")
    action.add_argument("--check", action="store_true", help="exit 1 if any snapshot differs")
    parser.add_argument(
        "--dir", type=Path, default=SCHEMA_DIR, help="snapshot directory (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    directory: Path = args.dir
    if args.write:
        for path in write_snapshots(directory):
            print(f"wrote {path}")
        return 0
    problems = check_snapshots(directory)
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
