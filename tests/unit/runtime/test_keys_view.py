"""How current a service's view of revocations is, from identity's watermarks."""

from __future__ import annotations

from fireline_runtime.keys_view import KeysView


def test_nothing_is_vouched_for_until_every_partition_has_been_heard_from() -> None:
    view = KeysView(max_age_s=10)
    assert not view.vouches(1000.0)
    view.update(0, 3, 1000.0)
    view.update(2, 3, 1000.0)
    assert not view.vouches(1000.0)
    view.update(1, 3, 999.0)
    assert view.vouches(1000.0)
    assert view.age(1004.0) == 5.0  # the oldest partition decides


def test_the_view_goes_stale_past_the_bound_and_current_again_with_the_next_watermarks() -> None:
    view = KeysView(max_age_s=10)
    for partition in (0, 1):
        view.update(partition, 2, 1000.0)
    assert view.vouches(1010.0)
    assert not view.vouches(1010.5)
    for partition in (0, 1):
        view.update(partition, 2, 1011.0)
    assert view.vouches(1012.0)


def test_a_replayed_older_watermark_never_moves_the_view_back() -> None:
    view = KeysView(max_age_s=10)
    view.update(0, 1, 1000.0)
    view.update(0, 1, 900.0)
    assert view.current_as_of() == 1000.0


def test_a_partition_added_to_the_topic_must_be_heard_from_too() -> None:
    view = KeysView(max_age_s=10)
    view.update(0, 1, 1000.0)
    view.update(0, 2, 1001.0)
    assert not view.vouches(1001.0)
    view.update(1, 2, 1001.0)
    assert view.vouches(1001.0)
