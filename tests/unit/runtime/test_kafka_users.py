"""The local broker's SCRAM users: kept beside its data, so a restarted `make run` can log in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fireline_devtools.brokers import start_apache_kafka
from fireline_devtools.kafka import ADMIN, KafkaUsers


def test_users_are_generated_once_and_read_back_on_the_next_run(tmp_path: Path) -> None:
    path = tmp_path / "scram-users.json"
    first = KafkaUsers.kept_in(path, ["identity", "auth"])
    assert set(first.passwords) == {ADMIN, "identity", "auth"}
    assert len(set(first.passwords.values())) == 3  # each its own password
    assert path.stat().st_mode & 0o077 == 0  # readable by its owner only
    again = KafkaUsers.kept_in(path, ["identity", "auth"])
    assert again.passwords == first.passwords


def test_a_service_added_later_gets_a_user_and_the_others_keep_their_passwords(
    tmp_path: Path,
) -> None:
    path = tmp_path / "scram-users.json"
    first = KafkaUsers.kept_in(path, ["identity"])
    later = KafkaUsers.kept_in(path, ["identity", "notifications"])
    assert later.password("identity") == first.password("identity")
    assert "notifications" in json.loads(path.read_text())


def test_the_storage_tool_is_given_every_user_as_scram_sha_512() -> None:
    users = KafkaUsers({"admin": "a1", "identity": "i1"})
    assert users.scram_arguments() == [
        "--add-scram",
        "SCRAM-SHA-512=[name=admin,password=a1]",
        "--add-scram",
        "SCRAM-SHA-512=[name=identity,password=i1]",
    ]


def test_data_formatted_before_authentication_is_refused_with_the_way_out(tmp_path: Path) -> None:
    data = tmp_path / "kafka-data"
    (data / "node-1" / "data").mkdir(parents=True)
    (data / "node-1" / "data" / "meta.properties").write_text("version=1\n")
    with pytest.raises(RuntimeError, match="make reset-db"):
        start_apache_kafka(tmp_path, data)
    assert not (data / "scram-users.json").exists()
