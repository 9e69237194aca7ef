"""Mirroring a PagerDuty incident: the newest event by PagerDuty's clock decides the state."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from fireline_incidents.domain.model import (
    Assignee,
    Assignment,
    Incident,
    Source,
    SourceSnapshot,
    Status,
    sync_from_source,
)

T0 = datetime(2025, 3, 14, 9, 26, tzinfo=UTC)
NOW = T0 + timedelta(days=1)
GRACE = Assignment((Assignee(id="PUB3D4E", name="Grace Hopper"),), "PEP1")
LINUS = Assignment((Assignee(id="PUC7K9M", name="Linus Pauling"),), "PEP1")
NOBODY = Assignment(())


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def incident() -> Incident:
    return Incident(
        id=uuid4(),
        org_id=uuid4(),
        number=1,
        title="Checkout API error rate above 5%",
        status="triggered",
        severity="SEV3",
        incident_type="Default",
        creator_id=None,
        source=Source(kind="pagerduty", external_id="Q2KZ7TR4VJX9PD"),
        created_at=at(0),
        acknowledged_at=None,
        resolved_at=None,
        updated_at=at(0),
    )


def snap(event_type: str, status: Status, minute: int, **fields: object) -> SourceSnapshot:
    base = SourceSnapshot(event_type=event_type, status=status, occurred_at=at(minute))
    return replace(base, **fields)  # type: ignore[arg-type]


def apply(start: Incident, *snapshots: SourceSnapshot) -> Incident:
    current = start
    for snapshot in snapshots:
        current = sync_from_source(current, snapshot, recorded_at=NOW).incident
    return current


# The acceptance sequence, as full snapshots (notes and status updates carry no state).
LIFE = (
    snap("incident.triggered", "triggered", 0, assignment=GRACE),
    snap("incident.priority_updated", "triggered", 2, priority="P1", priority_severity="SEV1"),
    snap("incident.acknowledged", "acknowledged", 3, priority="P1", priority_severity="SEV1"),
    snap("incident.unacknowledged", "triggered", 4, priority="P1", priority_severity="SEV1"),
    snap(
        "incident.escalated",
        "triggered",
        5,
        priority="P1",
        priority_severity="SEV1",
        assignment=LINUS,
    ),
    snap(
        "incident.reassigned",
        "triggered",
        6,
        priority="P1",
        priority_severity="SEV1",
        assignment=GRACE,
    ),
    snap("incident.acknowledged", "acknowledged", 7, priority="P1", priority_severity="SEV1"),
    snap(
        "incident.resolved",
        "resolved",
        9,
        priority="P1",
        priority_severity="SEV1",
        assignment=NOBODY,
    ),
    snap("incident.reopened", "triggered", 10, priority="P1", priority_severity="SEV1"),
    snap(
        "incident.resolved",
        "resolved",
        11,
        priority="P1",
        priority_severity="SEV1",
        assignment=NOBODY,
    ),
)


def test_the_whole_life_ends_resolved_with_the_priority_severity() -> None:
    final = apply(incident(), *LIFE)

    assert final.status == "resolved"
    assert final.resolved_at == at(11)
    assert final.acknowledged_at == at(3), "the first acknowledgement is kept"
    assert final.severity == "SEV1"
    assert final.reopen_count == 1
    assert final.assignees == ()


def test_unacknowledged_and_reopened_go_back_to_triggered() -> None:
    acknowledged = apply(incident(), LIFE[0], LIFE[2])
    assert apply(acknowledged, LIFE[3]).status == "triggered"

    resolved = apply(incident(), LIFE[0], LIFE[7])
    reopened = apply(resolved, LIFE[8])
    assert (reopened.status, reopened.resolved_at, reopened.reopen_count) == ("triggered", None, 1)


def test_an_older_event_never_moves_the_incident_back() -> None:
    resolved = apply(incident(), LIFE[7])

    late = sync_from_source(resolved, LIFE[2], recorded_at=NOW)

    assert late.incident.status == "resolved"
    assert late.status_change is None
    assert late.incident.acknowledged_at == at(3), "but its acknowledgement still counts"


@pytest.mark.parametrize("seed", range(12))
def test_every_order_ends_in_the_same_state(seed: int) -> None:
    shuffled_life = list(LIFE)
    random.Random(seed).shuffle(shuffled_life)
    start = incident()
    in_order = apply(start, *LIFE)

    shuffled = apply(start, *shuffled_life)

    assert replace(shuffled, updated_at=NOW) == replace(in_order, updated_at=NOW)


def test_a_priority_without_a_mapping_leaves_the_severity_alone() -> None:
    changed = sync_from_source(
        incident(),
        snap("incident.priority_updated", "triggered", 1, priority="P9"),
        recorded_at=NOW,
    )

    assert changed.incident.severity == "SEV3"
    assert changed.incident.source_priority == "P9"
    assert changed.severity_change is None


def test_a_merge_records_what_it_was_merged_into() -> None:
    merged = sync_from_source(
        incident(),
        snap("incident.resolved", "resolved", 1, merged_into="Q9SURVIVOR"),
        recorded_at=NOW,
    )

    assert merged.incident.merged_into == "Q9SURVIVOR"
    assert merged.status_change is not None
    assert merged.status_change.previous_status == "triggered"


def test_reassignment_and_delegation_record_assignees_and_policy() -> None:
    delegated = sync_from_source(
        apply(incident(), LIFE[0]),
        snap(
            "incident.delegated",
            "triggered",
            2,
            assignment=Assignment(LINUS.assignees, "PEP2", "APIs"),
        ),
        recorded_at=NOW,
    )

    assert delegated.assignment_changed
    assert delegated.incident.assignees == LINUS.assignees
    assert delegated.incident.escalation_policy_name == "APIs"


def test_the_echo_of_a_fireline_change_never_moves_the_incident() -> None:
    # Resolved, then reopened, in Fireline; the resolve's echo from PagerDuty comes in last.
    reopened = replace(incident(), status="triggered", resolved_at=None, source_state_at=at(0))
    echo = snap("incident.resolved", "resolved", 10, echo=True)

    sync = sync_from_source(reopened, echo, recorded_at=NOW)

    assert sync.status_change is None
    assert (sync.incident.status, sync.incident.resolved_at) == ("triggered", None)


def test_after_an_echo_an_older_pagerduty_event_changes_nothing() -> None:
    # PagerDuty's clock still counts: an acknowledgement made there before the echo, delivered
    # after it, is older than the newest PagerDuty state and does not move the incident.
    resolved = replace(incident(), status="resolved", resolved_at=at(9), source_state_at=at(0))
    after_echo = apply(resolved, snap("incident.resolved", "resolved", 10, echo=True))
    late = sync_from_source(
        after_echo, snap("incident.acknowledged", "acknowledged", 5), recorded_at=NOW
    )

    assert late.status_change is None
    assert late.incident.status == "resolved"
