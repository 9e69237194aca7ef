"""What every scenario gets: the options, the target, the API client and what was provisioned."""

from __future__ import annotations

from dataclasses import dataclass

from bench.api import ApiKey, Fireline, Integration
from bench.options import Options
from bench.target import Target
from bench.wrk import WrkSettings


@dataclass
class Context:
    options: Options
    target: Target
    api: Fireline
    wrk: WrkSettings
    key: ApiKey
    """The bench's own API key (revoked when the run ends)."""
    integration: Integration | None = None
    """A PagerDuty integration, for the scenarios that send webhooks."""
    incident_id: str | None = None
    """An existing incident, for scenario 3's reads."""
    ceiling_rps: float | None = None
    """Scenario 0's requests per second, once it has run: the denominator of every ratio."""
    ceiling_cpu_ms: float | None = None
    """Scenario 0's server CPU per request, once it has run: scenario 16's HTTP floor."""
    burst_cpu_ms: dict[str, float | None] | None = None
    """Scenario 8's CPU per delivery by process, once it has run: what scenario 16 compares
    its floor with."""
