"""Percentiles of latency samples, in milliseconds."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0-100): always a value that was actually observed."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(seconds: Sequence[float], quantiles: Sequence[int] = (50, 99)) -> dict[str, float]:
    """``{"p50": ..., "p99": ..., "max": ...}`` in milliseconds; empty when there is no sample."""
    if not seconds:
        return {}
    figures = {f"p{q}": round(percentile(seconds, q) * 1000, 2) for q in quantiles}
    figures["max"] = round(max(seconds) * 1000, 2)
    return figures
