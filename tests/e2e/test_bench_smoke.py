"""``python -m bench`` as ``make bench`` runs it, as a subprocess: the harness runs and its
figures are sane.

The ``--smoke`` run is pointed at the session's stack (so it starts nothing of its own but the
ceiling app); the burst smoke starts a stack of its own, so it can attribute CPU to each process.
Both need wrk, as the bench itself does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from support.infra import ROOT
from support.stack import Stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("wrk") is None, reason="wrk is not installed (Debian package `wrk`)"
    ),
]


def run_bench(
    args: list[str], *, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_bench_smoke_measures_token_exchange_against_the_ceiling(
    stack: Stack, tmp_path: Path
) -> None:
    run = run_bench(
        [
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
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr

    written = list(tmp_path.glob("*.json"))
    assert len(written) == 1, run.stdout
    results = json.loads(written[0].read_text())
    token = results["results"]["token_exchange"]
    assert token["requests_per_s"] > 0
    assert token["non_2xx"] == 0
    assert isinstance(token["ratio_to_ceiling"], float)
    # The bare server's CPU per request: the floor a delivery's CPU budget is compared with.
    assert results["results"]["ceiling"]["server_cpu_ms_per_request"] > 0
    assert results["stack"]["started_by_bench"] is False
    assert "token exchange" in run.stdout  # the table


def test_bench_burst_smoke_reports_cpu_by_process_statements_and_hops(tmp_path: Path) -> None:
    """Scenario 8 with 20 deliveries on a stack the bench starts itself: only then does it know
    every process id and database, so the CPU budget, the statements and the hop table must all
    be there, and every delivery must have started exactly one incident. Scenario 9, at a steady
    rate for two seconds, must say which hop its latency went to as well. The floor (16) runs
    last on the same stack and must set itself beside the burst's figures."""
    # Not the session's broker or server: the bench must start (and own the pids of) its own.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "FIRELINE_POSTGRES_URL")
    }
    run = run_bench(
        [
            "--scenarios",
            "8,9,16",
            "--deliveries",
            "20",
            "--latency-seconds",
            "2",
            "--lone-rate",
            "10",
            "--seconds",
            "1",  # the floor's bare HTTP server, measured without scenario 0
            "--brokers",
            "kafka",
            "--results-dir",
            str(tmp_path),
        ],
        timeout=600,
        env=env,
    )
    assert run.returncode == 0, run.stdout + run.stderr

    (written,) = tmp_path.glob("*.json")
    results = json.loads(written.read_text())
    burst = results["results"]["alert_storm_burst"]
    assert burst["answered_2xx"] == 20
    assert (burst["lost"], burst["duplicated"]) == (0, 0)
    assert burst["incidents_listed"] == burst["incidents_listed_distinct"] == 20

    budget = burst["cpu_ms_per_delivery"]
    roles = {
        "ingest",
        "incidents",
        "identity",
        "auth",
        "notifications",
        "kafka",
        "postgresql",
        "load generator",
    }
    assert set(budget) == roles
    # Every delivery went through ingest, incidents, the broker and PostgreSQL: each used CPU.
    for role in ("ingest", "incidents", "kafka", "postgresql", "load generator"):
        assert budget[role] > 0, role
    assert burst["stack_cpu_ms_per_delivery"] > 0
    # Beside the burst's figure: what the idle stack spends a second (read before the burst,
    # once quiet), and the broker's JIT compiler's share of its own.
    assert burst["quiet"] is True
    assert burst["stack_idle_cpu_ms_per_s"] > 0
    assert set(burst["broker_jit_cpu_ms_per_delivery"]) == {"kafka"}

    hops = burst["hops"]
    assert hops["complete"] == 20
    assert len(hops["hops_ms"]) == len(hops["points"]) - 1
    assert all(h["samples"] == 20 for h in hops["hops_ms"].values())
    consumed = hops["from_202_ms"]["IncidentStarted consumed"]
    assert consumed["p50"] > hops["from_202_ms"]["alert produced"]["p50"]

    if results["postgres"]["pg_stat_statements"]:
        for service in ("pagerduty-ingest", "incidents"):
            counted = burst["statements"][service]
            # Only that they were counted: over 20 deliveries the window is mostly the services'
            # own polls and autovacuum's visits (transactions with no statement), so no ratio
            # between the figures holds.
            assert counted["transactions_per_delivery"] > 0, service
            assert counted["round_trips_per_delivery"] > 0, service
            assert counted["top"], service
        # pg_waldump read the window back: the deliveries table took some of its records.
        by_relation = burst["wal_records_by_relation"]
        assert isinstance(by_relation, list), by_relation  # "not measured" says pg_waldump failed
        relations = {r["relation"]: r for r in by_relation}
        assert relations["pagerduty-ingest.deliveries"]["records_per_delivery"] > 0
        assert "WAL records/delivery: pagerduty-ingest.deliveries" in run.stdout
    assert "stack CPU ms/delivery" in run.stdout  # the table

    steady = results["results"]["end_to_end_latency_20"]
    assert steady["matched"] == steady["sent"] == 20
    assert steady["hops"]["complete"] == 20
    assert all(h["samples"] == 20 for h in steady["hops"]["hops_ms"].values())
    assert "hop alert produced -> alert consumed" in run.stdout
    _assert_floor(results["results"]["floor"], burst)


def _assert_floor(floor: dict[str, Any], burst: dict[str, Any]) -> None:
    """Every row the floor claims to write was written, every record it produced was consumed
    by each group, and each part is set beside the burst's figure for it."""
    deliveries = 20
    today, minimal = floor["postgresql"]["today"]["rows"], floor["postgresql"]["minimal"]["rows"]
    timeline = len(floor["postgresql"]["templates"]["timeline_entries"])
    incident_events = len(floor["postgresql"]["templates"]["incident_outbox"])
    assert today == {
        "ingest.deliveries": deliveries,
        "ingest.outbox": deliveries,
        "incidents.inbox": deliveries,
        "incidents.incidents": deliveries,
        "incidents.timeline_entries": deliveries * timeline,
        "incidents.outbox": deliveries * incident_events,
    }
    # Minimal: no alert outbox row, and sent outbox rows deleted rather than marked.
    assert (minimal["ingest.outbox"], minimal["incidents.outbox"]) == (0, 0)
    assert minimal["incidents.incidents"] == deliveries

    kafka = floor["kafka"]
    assert kafka["produced"] == deliveries * (1 + incident_events)
    # One group on the alerts topic, three on the incidents topic: each reads every record.
    assert kafka["consumed"] == kafka["consumed_expected"] == deliveries * (1 + 3 * incident_events)
    assert floor["http_server_cpu_ms_per_request"] > 0

    assert floor["stack_from_scenario_8"] is True
    total = floor["parts"]["total"]
    assert total["stack_ms"] == pytest.approx(burst["stack_cpu_ms_per_delivery"], abs=0.01)
    assert total["floor_ms"] is not None
