"""Command-line options of ``python -m bench``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from bench import ROOT, pgcluster

ALL_SCENARIOS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17)

RUN_ORDER = (0, 2, 3, 5, 12, 6, 9, 8, 11, 13, 14, 4, 10, 17, 1, 7, 15, 16)
"""Quiet scenarios first: the ceiling, then the wrk runs and probes that a backlog of webhooks would
disturb (12: logout -> a person's token refused, beside 5). Then the webhook scenarios from the
lightest: 20/s (9), which always drains; the burst (8), whose CPU budget must find no other backlog
in the pipeline and which ends only when its own has drained; the live stream's latency (11) and
the outgoing webhooks (13, 14); 200/s (4), the 1,000/s storm (10), the storm with PagerDuty not
answering (17) and the 10,000-delivery ingest run (1), whose incidents may still be draining
through the worker and the broker when they end. The exchange per algorithm (7) late: it replaces
auth's signing key at once for each algorithm, which withdraws every token issued before it. The
paused broker (15) last: nothing may be in flight while the broker is frozen. The floor (16) after
everything: it compares itself with the burst's (8) figures, and waits for the stack to be quiet
before it measures."""

STORM_SCENARIOS = (0, 4, 8, 9, 10, 16, 17)
"""``--storm``: the alert-storm set (burst with CPU, statements and hops; steady 20/s and 200/s;
the 1,000/s storm; a storm with PagerDuty not answering; the floor the burst's CPU is compared
with) and the ceiling their ratios are
measured against, on Apache Kafka only."""

POSTGRES_KINDS = ("debian", "embedded")

FLOOR_BATCH = 100
"""Scenario 16's deliveries per batch by default: about what a burst's consumer batches and relay
passes can hold (a consumer fetch, applied in one transaction, is at most 200 records). Smaller
batches cost more per delivery: each statement and commit is shared by fewer rows."""

SMOKE_SCENARIOS = (0, 2)
"""``--smoke``: token exchange, plus the ceiling its ratio is measured against."""

SMOKE_SECONDS = 2

BROKERS = ("kafka", "tansu")
"""Brokers a bench that starts its own stack measures on, in turn, in one run: Apache Kafka
(the figures the targets are checked against) and Tansu beside it, for comparison."""


@dataclass(frozen=True)
class External:
    """An already running stack: every URL and credential given, so the bench starts nothing."""

    identity_url: str
    auth_url: str
    incidents_url: str
    ingest_url: str
    admin_email: str
    admin_password: str
    kafka_bootstrap: str
    topic_prefix: str


@dataclass(frozen=True)
class Options:
    scenarios: tuple[int, ...]
    seconds: int
    threads: int
    connections: int
    deliveries: int
    drain_timeout: float
    rate: float
    latency_seconds: float
    trials: int
    results_dir: Path
    smoke: bool
    external: External | None
    brokers: tuple[str, ...] = BROKERS
    postgres: str = "embedded"
    lone_rate: float = 20.0
    """Scenario 9's rate: 20/s by default; 1/s or less puts an idle gap before each delivery."""
    floor_batch: int = FLOOR_BATCH
    """Scenario 16: deliveries per statement, transaction and relay pass (``FLOOR_BATCH``)."""

    @property
    def in_run_order(self) -> list[int]:
        return [n for n in RUN_ORDER if n in self.scenarios]

    def as_json(self) -> dict[str, object]:
        """What the results file records: the knobs, never URLs or credentials."""
        return {
            "scenarios": self.in_run_order,
            "seconds": self.seconds,
            "threads": self.threads,
            "connections": self.connections,
            "deliveries": self.deliveries,
            "drain_timeout_s": self.drain_timeout,
            "rate_per_s": self.rate,
            "latency_seconds": self.latency_seconds,
            "lone_rate_per_s": self.lone_rate,
            "floor_batch": self.floor_batch,
            "trials": self.trials,
            "smoke": self.smoke,
            "brokers": list(self.brokers) if self.external is None else ["external"],
            "postgres": self.postgres if self.external is None else "external",
        }


_EXTERNAL_FLAGS = (
    "identity_url",
    "auth_url",
    "incidents_url",
    "ingest_url",
    "admin_email",
    "admin_password",
    "kafka_bootstrap",
    "topic_prefix",
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Fireline benchmarks: wrk throughput as ratios to a bare FastAPI ceiling, "
        "webhook ingest without loss, end-to-end latency, key propagation.",
    )
    p.add_argument(
        "--scenarios",
        default=",".join(map(str, ALL_SCENARIOS)),
        help="comma-separated scenario numbers (0 ceiling, 1 webhook ingest, 2 token exchange, "
        "3 authenticated read, 4 end-to-end latency at 200/s, 5 revocation, 6 key usable, "
        "7 token exchange per signing algorithm, 8 alert storm burst, 9 end-to-end latency at "
        "20/s, 10 storm of 1,000/s, 11 webhook -> change on an open SSE stream, "
        "12 logout -> person's token refused, 13 PagerDuty to webhook latency, "
        "14 webhook fan-out burst, 15 revocation with the broker paused, "
        "16 floor: one delivery's least PostgreSQL, Kafka and HTTP cost, "
        "17 alert storm with PagerDuty not answering)",
    )
    p.add_argument(
        "--seconds", type=int, default=10, help="wrk duration of scenarios 0, 2, 3 (7: each)"
    )
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--connections", type=int, default=16, help="wrk connections")
    p.add_argument(
        "--deliveries", type=int, default=10_000, help="scenarios 1, 8 and 16: deliveries"
    )
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=180.0,
        help="scenarios 1, 8, 10 and 17: seconds to wait for all",
    )
    p.add_argument(
        "--rate", type=float, default=200.0, help="scenarios 4, 11, 13: webhooks per second"
    )
    p.add_argument(
        "--latency-seconds", type=float, default=30.0, help="scenarios 4, 9, 11, 13: duration"
    )
    p.add_argument(
        "--lone-rate",
        type=float,
        default=20.0,
        help="scenario 9: deliveries a second (below 2/s, each follows an idle gap)",
    )
    p.add_argument(
        "--floor-batch",
        type=int,
        default=FLOOR_BATCH,
        help="scenario 16: deliveries per statement, transaction and relay pass",
    )
    p.add_argument(
        "--trials", type=int, default=50, help="scenarios 5, 6 (and 12, at most 20): trials each"
    )
    p.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    p.add_argument(
        "--smoke",
        action="store_true",
        help=f"scenario 2 (and the ceiling for its ratio) with wrk for {SMOKE_SECONDS} s each",
    )
    p.add_argument(
        "--storm",
        action="store_true",
        help=f"the alert-storm scenarios {STORM_SCENARIOS} on Apache Kafka only",
    )
    p.add_argument(
        "--postgres",
        choices=POSTGRES_KINDS,
        default=default_postgres(),
        help="when the bench starts its own stack: a private cluster of Debian's PostgreSQL, "
        "which counts statements (pg_stat_statements), or the embedded one, which cannot "
        "(default: debian when its server is installed)",
    )
    p.add_argument(
        "--brokers",
        default=",".join(BROKERS),
        help="when the bench starts its own stack: the brokers to measure on, in turn "
        "(kafka = Apache Kafka, tansu); targets are checked on the first",
    )
    running = p.add_argument_group(
        "an already running stack (give all of these, or none to start one)"
    )
    for flag in _EXTERNAL_FLAGS:
        running.add_argument("--" + flag.replace("_", "-"))
    return p


def parse(argv: list[str] | None = None) -> Options:
    p = parser()
    args = p.parse_args(argv)
    scenarios = _scenarios(p, args.scenarios)
    seconds = args.seconds
    brokers = _brokers(p, args.brokers)
    if args.smoke:
        scenarios, seconds = SMOKE_SCENARIOS, SMOKE_SECONDS
    if args.storm:
        scenarios, brokers = STORM_SCENARIOS, ("kafka",)
    if args.threads < 1 or args.connections < args.threads:
        p.error("need --threads >= 1 and --connections >= --threads")
    if set(scenarios) & {1, 8} and args.deliveries < args.threads:
        p.error("--deliveries must be at least --threads (each wrk thread sends a share)")
    rates = (args.rate, args.lone_rate, args.latency_seconds)
    if min(rates) <= 0 or args.trials < 1 or seconds < 1 or args.floor_batch < 1:
        p.error(
            "--rate, --lone-rate, --latency-seconds, --seconds, --trials and --floor-batch "
            "must be positive"
        )
    return Options(
        scenarios=scenarios,
        seconds=seconds,
        threads=args.threads,
        connections=args.connections,
        deliveries=args.deliveries,
        drain_timeout=args.drain_timeout,
        rate=args.rate,
        latency_seconds=args.latency_seconds,
        trials=args.trials,
        results_dir=args.results_dir,
        smoke=args.smoke,
        external=_external(p, args),
        brokers=brokers,
        postgres=args.postgres,
        lone_rate=args.lone_rate,
        floor_batch=args.floor_batch,
    )


def default_postgres() -> str:
    return "debian" if pgcluster.debian_bin() is not None else "embedded"


def _brokers(p: argparse.ArgumentParser, raw: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not chosen or set(chosen) - set(BROKERS):
        p.error(f"--brokers: choose among {BROKERS}")
    return chosen


def _scenarios(p: argparse.ArgumentParser, raw: str) -> tuple[int, ...]:
    try:
        chosen = tuple(sorted({int(part) for part in raw.split(",") if part.strip()}))
    except ValueError:
        p.error(f"--scenarios: not a list of numbers: {raw!r}")
    unknown = set(chosen) - set(ALL_SCENARIOS)
    if not chosen or unknown:
        p.error(f"--scenarios: choose among {ALL_SCENARIOS}")
    return chosen


def _external(p: argparse.ArgumentParser, args: argparse.Namespace) -> External | None:
    given = {flag: getattr(args, flag) for flag in _EXTERNAL_FLAGS}
    if not any(given.values()):
        return None
    # The topic prefix may legitimately be empty (a deployment without one): only `None` is absent.
    missing = [
        flag
        for flag, value in given.items()
        if value is None or (value == "" and flag != "topic_prefix")
    ]
    if missing:
        p.error(
            "for a running stack also give: "
            + ", ".join("--" + m.replace("_", "-") for m in missing)
        )
    return External(
        **{
            flag: str(value).rstrip("/") if flag.endswith("_url") else str(value)
            for flag, value in given.items()
        }
    )
