"""What deploy/grafana's dashboard asks Prometheus for, read from its JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "fireline.json"

# Fireline's own series; `up` is Prometheus's, recorded for every scrape target.
_METRIC = re.compile(r"\b(fireline_[a-z0-9_]+|up)\b")


def load() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def queries(dashboard: dict[str, Any] | None = None) -> list[str]:
    """Every PromQL expression of every panel."""
    panels = (dashboard or load())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", ())]


def queried_metrics(dashboard: dict[str, Any] | None = None) -> set[str]:
    """The series names the queries select (a histogram's ``_bucket`` series as written)."""
    return {name for expr in queries(dashboard) for name in _METRIC.findall(expr)}
