"""Scenario outcomes: figures for the JSON file, lines for the table, targets and pass flags."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAMES: dict[int, tuple[str, str]] = {
    0: ("ceiling", "ceiling (bare FastAPI)"),
    1: ("webhook_ingest", "webhook ingest"),
    2: ("token_exchange", "token exchange"),
    3: ("authenticated_read", "authenticated read"),
    4: ("end_to_end_latency", "webhook -> IncidentStarted"),
    5: ("revocation", "revocation"),
    6: ("key_usable", "key usable"),
    7: ("token_exchange_by_algorithm", "token exchange per algorithm"),
    8: ("alert_storm_burst", "alert storm burst"),
    9: ("end_to_end_latency_20", "webhook -> IncidentStarted, 20/s"),
    10: ("alert_storm", "alert storm, 1,000/s"),
    11: ("webhook_to_live_stream", "webhook -> change on an open SSE stream"),
    12: ("session_revocation", "logout -> person's token refused"),
    13: ("pagerduty_to_webhook", "PagerDuty 202 -> webhook received"),
    14: ("webhook_fan_out", "burst fanned out to 10 endpoints"),
    15: ("revocation_broker_paused", "revocation with the broker paused"),
    16: ("floor", "floor: one delivery's least cost"),
    17: ("pagerduty_down", "alert storm, PagerDuty not answering"),
}
"""Scenario number -> (key in the results file, title in the table)."""


@dataclass(frozen=True)
class Line:
    """One table row; a row with a ``target`` is also a check in the JSON file."""

    figure: str
    value: str
    target: str = ""
    passed: bool | None = None


@dataclass
class Outcome:
    number: int
    key: str
    title: str
    figures: dict[str, Any] = field(default_factory=dict)
    lines: list[Line] = field(default_factory=list)

    @classmethod
    def of(cls, number: int) -> Outcome:
        key, title = NAMES[number]
        return cls(number, key, title)

    def check(self, figure: str, value: str, target: str, passed: bool | None) -> None:
        self.lines.append(Line(figure, value, target, passed))

    def show(self, figure: str, value: str) -> None:
        self.lines.append(Line(figure, value))

    def checks(self) -> list[dict[str, Any]]:
        return [
            {
                "scenario": self.number,
                "figure": line.figure,
                "value": line.value,
                "target": line.target,
                "pass": line.passed,
            }
            for line in self.lines
            if line.target
        ]


def ratio_check(
    outcome: Outcome,
    rate: float,
    ceiling: float | None,
    minimum: float,
    *,
    figure: str = "x ceiling",
    key: str = "ratio_to_ceiling",
) -> None:
    """``rate`` as a multiple of the ceiling measured in the same run, checked against a target."""
    if ceiling is None or ceiling <= 0:
        outcome.figures[key] = None
        outcome.check(figure, "n/a (no scenario 0)", f">= {minimum}", None)
        return
    ratio = round(rate / ceiling, 3)
    outcome.figures[key] = ratio
    outcome.check(figure, f"{ratio:.3f}", f">= {minimum}", ratio >= minimum)


def ms(figures: dict[str, float], *names: str) -> str:
    """``"1.2 / 8.4"`` for the named percentiles, in milliseconds."""
    return " / ".join(f"{figures[n]:.1f}" if n in figures else "-" for n in names)


def table(outcomes: Sequence[Outcome], header: Sequence[str] = ()) -> str:
    rows = [("scenario", "figure", "value", "target", "result")]
    for outcome in outcomes:
        for i, line in enumerate(outcome.lines):
            name = f"{outcome.number} {outcome.title}" if i == 0 else ""
            result = {True: "pass", False: "FAIL", None: ""}[line.passed]
            if line.target and line.passed is None:
                result = "n/a"
            rows.append((name, line.figure, line.value, line.target, result))
    widths = [max(len(row[c]) for row in rows) for c in range(5)]
    out = [*header, ""] if header else []
    for i, row in enumerate(rows):
        cells = [
            row[0].ljust(widths[0]),
            row[1].ljust(widths[1]),
            row[2].rjust(widths[2]),
            row[3].ljust(widths[3]),
            row[4],
        ]
        out.append("  ".join(cells).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def all_checks(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    return [check for outcome in outcomes for check in outcome.checks()]


def write(document: dict[str, Any], results_dir: Path) -> Path:
    """``<results_dir>/<UTC YYYYmmddTHHMMSSZ>.json``."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
