"""Every event's schema matches its committed snapshot, and the snapshot tool says what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fireline_contracts import EVENT_TYPES, AlertTriggered, EventEnvelope, KeyRevoked, UserCreated
from fireline_contracts.snapshots import (
    REGENERATE_COMMAND,
    event_schema,
    main,
    render_schema,
    snapshot_path,
    snapshot_problems,
)

COMMITTED = Path(__file__).resolve().parents[1] / "schemas"


@pytest.mark.parametrize("event", EVENT_TYPES.values(), ids=EVENT_TYPES.keys())
def test_schema_matches_its_committed_snapshot(event: type[EventEnvelope]) -> None:
    path = snapshot_path(event, COMMITTED)
    assert path.exists(), "\n".join(snapshot_problems(event, COMMITTED))

    committed = path.read_text(encoding="utf-8")

    assert committed == render_schema(event_schema(event)), "\n".join(
        snapshot_problems(event, COMMITTED)
    )


def test_snapshot_files_are_sorted_pretty_json_with_a_trailing_newline() -> None:
    text = snapshot_path(KeyRevoked, COMMITTED).read_text(encoding="utf-8")

    assert text.endswith("}\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    assert json.loads(text)["properties"]["event_type"]["const"] == "KeyRevoked"


def test_check_passes_after_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", "--dir", str(tmp_path)]) == 1
    assert REGENERATE_COMMAND in capsys.readouterr().err

    assert main(["--write", "--dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{name}.v1.json" for name in EVENT_TYPES
    )
    assert main(["--check", "--dir", str(tmp_path)]) == 0


def _edit_payload_snapshot(path: Path, payload_def: str, *, add: str = "", drop: str = "") -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    properties = schema["$defs"][payload_def]["properties"]
    if add:
        properties[add] = {"type": "string"}
    if drop:
        del properties[drop]
    path.write_text(render_schema(schema), encoding="utf-8")


def test_check_says_an_incompatible_change_needs_a_new_schema_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--write", "--dir", str(tmp_path)])
    # The snapshot knew a property the model no longer has, so stored events may carry it.
    _edit_payload_snapshot(snapshot_path(UserCreated, tmp_path), "UserPayload", add="nickname")

    assert main(["--check", "--dir", str(tmp_path)]) == 1

    err = capsys.readouterr().err
    assert "UserCreated v1: schema differs" in err
    assert "next schema_version" in err
    assert "UPCASTERS" in err
    assert "(root).payload.nickname: property removed" in err
    assert "UserUpdated" not in err


def test_check_says_a_compatible_change_only_needs_a_new_snapshot(tmp_path: Path) -> None:
    main(["--write", "--dir", str(tmp_path)])
    # The model has an optional property the snapshot lacks, as after adding one.
    _edit_payload_snapshot(snapshot_path(AlertTriggered, tmp_path), "AlertPayload", drop="priority")

    problems = snapshot_problems(AlertTriggered, tmp_path)

    assert problems == [
        "AlertTriggered v1: schema differs from AlertTriggered.v1.json in a backward-compatible "
        "way; "
        f"run `{REGENERATE_COMMAND}` and commit the snapshot"
    ]
