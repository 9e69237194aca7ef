"""`make run` hands the admin password to identity alone, never to the other services."""

from __future__ import annotations

import pytest

from fireline_runtime.devrun import SERVICES, child_env, stack_env
from fireline_runtime.infra import Postgres


def test_only_identity_gets_the_admin_password_even_when_the_shell_sets_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIRELINE_ADMIN_PASSWORD", "the-admin-password")
    monkeypatch.setenv("FIRELINE_ADMIN_EMAIL", "admin@example.com")
    envs = stack_env(
        postgres=Postgres("postgresql://postgres@127.0.0.1:5432/postgres", "test"),
        bootstrap="127.0.0.1:9092",
        ports={s.name: 8000 + n for n, s in enumerate(SERVICES)},
        secrets_={"signing_key_encryption_key": "k1", "ingest_encryption_key": "k2"},
    )
    # What devrun's run() adds for identity, the one service that creates the admin.
    envs["identity"]["FIRELINE_ADMIN_PASSWORD"] = "the-admin-password"

    children = {name: child_env(env) for name, env in envs.items()}

    assert children["identity"]["FIRELINE_ADMIN_PASSWORD"] == "the-admin-password"
    for name in ("auth", "incidents", "pagerduty-ingest"):
        assert "the-admin-password" not in children[name].values(), name
        assert "FIRELINE_ADMIN_EMAIL" not in children[name], name
    assert "PATH" in children["auth"]  # everything else is still inherited
