"""Benchmarks: ``make bench`` measures the four services with wrk and latency probes.

The harness reuses the test suite's stack launcher and PagerDuty fixtures (``tests/support``),
so ``tests/`` joins the import path here, once, before any bench module imports them.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))
