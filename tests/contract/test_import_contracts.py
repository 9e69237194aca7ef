"""The import contracts (.importlinter, run by `make lint`) catch a layer violation.

`make lint` shows the tree keeps them; this shows they are not vacuous: the same contracts, run
on a copy of the packages where one use-case module imports an adapter, fail and name it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [
    ROOT / "contracts" / "src" / "fireline_contracts",
    ROOT / "runtime" / "src" / "fireline_runtime",
    ROOT / "devtools" / "src" / "fireline_devtools",
    *sorted((ROOT / "services").glob("*/src/fireline_*")),
    ROOT / "bench",
]


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("lint-imports")),
            "--config",
            str(ROOT / ".importlinter"),
        ],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for package in PACKAGES:
        if package.is_dir() and not package.name.endswith(".egg-info"):
            shutil.copytree(
                package, tree / package.name, ignore=shutil.ignore_patterns("__pycache__")
            )
    return tree


def test_a_use_case_importing_an_adapter_breaks_the_layers_contract(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    kept = _lint_imports(tree)
    assert kept.returncode == 0, kept.stdout + kept.stderr  # the copy itself is clean

    use_cases = tree / "fireline_incidents" / "service_layer" / "queries.py"
    use_cases.write_text(
        use_cases.read_text() + "\nfrom fireline_incidents.adapters import postgres  # noqa\n"
    )
    broken = _lint_imports(tree)

    assert broken.returncode != 0
    report = " ".join(broken.stdout.split())
    assert "Inside every service, dependencies point inward BROKEN" in report
    assert (
        "fireline_incidents.service_layer.queries -> fireline_incidents.adapters.postgres" in report
    )


def test_one_service_importing_another_breaks_the_independence_contract(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    domain = tree / "fireline_notifications" / "domain" / "endpoint.py"
    domain.write_text(domain.read_text() + "\nimport fireline_identity.domain.keys  # noqa\n")

    broken = _lint_imports(tree)

    assert broken.returncode != 0
    report = " ".join(broken.stdout.split())
    assert "No service imports another; they meet only on Kafka topics and HTTP BROKEN" in report


def test_the_consumer_reaching_up_into_the_lifecycle_breaks_the_runtime_parts_contract(
    tmp_path: Path,
) -> None:
    report = _report_with(
        _copy(tmp_path),
        "fireline_runtime/messaging/consuming.py",
        "import fireline_runtime.lifecycle",
    )

    assert (
        "The runtime's parts point down: service shell, lifecycle and app factory, messaging,"
        " consumer registry BROKEN" in report
    )
    assert "fireline_runtime.messaging.consuming -> fireline_runtime.lifecycle" in report


def _report_with(tree: Path, module: str, line: str) -> str:
    """lint-imports' report, on one line, once ``line`` is appended to ``module``; it must fail."""
    path = tree / module
    path.write_text(f"{path.read_text()}\n{line}  # noqa\n")
    broken = _lint_imports(tree)
    assert broken.returncode != 0, broken.stdout
    return " ".join(broken.stdout.split())
