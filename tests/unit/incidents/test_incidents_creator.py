"""Which Fireline user becomes an alert's incident creator."""

from __future__ import annotations

from uuid import UUID, uuid4

from fireline_incidents.domain.model import (
    DirectoryUser,
    candidate_emails,
    normalize_email,
    resolve_creator,
)

ORG = uuid4()
OTHER_ORG = uuid4()


def user(email: str, *, org: UUID = ORG, active: bool = True) -> DirectoryUser:
    return DirectoryUser(user_id=uuid4(), org_id=org, email=normalize_email(email), active=active)


def test_creator_email_match_beats_an_oncall_match() -> None:
    creator, oncall = user("creator@example.com"), user("oncall@example.com")

    chosen = resolve_creator(
        org_id=ORG,
        creator_email="creator@example.com",
        oncall_emails=("oncall@example.com",),
        users=[oncall, creator],
    )

    assert chosen == creator.user_id


def test_emails_match_whatever_their_case_and_surrounding_spaces() -> None:
    alice = user("Alice@Example.com ")

    chosen = resolve_creator(
        org_id=ORG, creator_email="  ALICE@example.COM", oncall_emails=(), users=[alice]
    )

    assert chosen == alice.user_id


def test_without_a_creator_match_the_first_matching_oncall_user_in_order_is_chosen() -> None:
    second, third = user("second@example.com"), user("third@example.com")

    chosen = resolve_creator(
        org_id=ORG,
        creator_email="stranger@example.com",
        oncall_emails=("nobody@example.com", "Second@example.com", "third@example.com"),
        users=[third, second],
    )

    assert chosen == second.user_id


def test_a_deactivated_user_never_matches() -> None:
    gone = user("gone@example.com", active=False)
    oncall = user("oncall@example.com")

    assert (
        resolve_creator(
            org_id=ORG,
            creator_email="gone@example.com",
            oncall_emails=("gone@example.com", "oncall@example.com"),
            users=[gone, oncall],
        )
        == oncall.user_id
    )
    assert (
        resolve_creator(
            org_id=ORG, creator_email="gone@example.com", oncall_emails=(), users=[gone]
        )
        is None
    )


def test_a_user_of_another_org_never_matches() -> None:
    elsewhere = user("shared@example.com", org=OTHER_ORG)

    chosen = resolve_creator(
        org_id=ORG,
        creator_email="shared@example.com",
        oncall_emails=("shared@example.com",),
        users=[elsewhere],
    )

    assert chosen is None


def test_no_match_at_all_leaves_the_incident_without_creator() -> None:
    assert (
        resolve_creator(
            org_id=ORG,
            creator_email=None,
            oncall_emails=("a@example.com",),
            users=[user("b@example.com")],
        )
        is None
    )
    assert resolve_creator(org_id=ORG, creator_email=None, oncall_emails=(), users=[]) is None


def test_candidate_emails_are_normalised_deduplicated_and_keep_their_order() -> None:
    assert candidate_emails(" B@x.io", ["a@x.io", "b@x.io", "", "  ", "A@X.IO", "c@x.io"]) == [
        "b@x.io",
        "a@x.io",
        "c@x.io",
    ]
