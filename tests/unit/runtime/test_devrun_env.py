"""`make run` hands the admin login to identity alone, never to the other services."""

from __future__ import annotations

import pytest

from fireline_devtools.processes import SERVICES, inherited_env


def test_only_identity_gets_the_admin_password_even_when_the_shell_sets_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIRELINE_ADMIN_PASSWORD", "the-admin-password")
    monkeypatch.setenv("FIRELINE_ADMIN_EMAIL", "admin@example.com")

    children = {spec.name: inherited_env(spec.name) for spec in SERVICES}

    assert children["identity"]["FIRELINE_ADMIN_PASSWORD"] == "the-admin-password"
    for name in ("auth", "incidents", "pagerduty-ingest"):
        assert "the-admin-password" not in children[name].values(), name
        assert "FIRELINE_ADMIN_EMAIL" not in children[name], name
    assert "PATH" in children["auth"]  # everything else is still inherited
