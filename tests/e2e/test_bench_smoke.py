"""``python -m bench --smoke`` against the e2e stack: the harness runs and its figures are sane.

Runs the bench as ``make bench`` would, as a subprocess, pointed at the session's stack (so it
starts nothing of its own but the ceiling app). Needs wrk, as the bench itself does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.infra import ROOT
from support.stack import Stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("wrk") is None, reason="wrk is not installed (Debian package `wrk`)"
    ),
]


def test_bench_smoke_measures_token_exchange_against_the_ceiling(
    stack: Stack, tmp_path: Path
) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--smoke",
            "--results-dir",
            str(tmp_path),
            "--identity-url",
            stack.url("identity"),
            "--auth-url",
            stack.url("auth"),
            "--incidents-url",
            stack.url("incidents"),
            "--ingest-url",
            stack.url("pagerduty-ingest"),
            "--admin-email",
            stack.admin_email,
            "--admin-password",
            stack.admin_password,
            "--kafka-bootstrap",
            stack.broker.bootstrap,
            "--topic-prefix",
            stack.topic_prefix,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr

    written = list(tmp_path.glob("*.json"))
    assert len(written) == 1, run.stdout
    results = json.loads(written[0].read_text())
    token = results["results"]["token_exchange"]
    assert token["requests_per_s"] > 0
    assert token["non_2xx"] == 0
    assert isinstance(token["ratio_to_ceiling"], float)
    assert results["stack"]["started_by_bench"] is False
    assert "token exchange" in run.stdout  # the table
