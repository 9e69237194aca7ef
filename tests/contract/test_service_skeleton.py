"""Every service's tree reads the same (docs/architecture.md §5, "The skeleton every service
follows").

A newcomer who learned one service looks for a role in the same place in the next: the same
folders, the required files, repositories named after their table group, Protocols only in the
two port modules, one context and background loops started from one module. A service drifting
from it fails here with the list of what differs.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SERVICES = {
    "identity": "Identity",
    "auth": "Auth",
    "incidents": "Incidents",
    "notifications": "Notifications",
    "pagerduty-ingest": "Ingest",
}
"""Each service's folder and the ``<Service>`` its base error and context are named after."""

FOLDERS = {"domain", "service_layer", "adapters", "entrypoints", "migrations"}

REQUIRED = (
    "__main__.py",
    "config.py",
    "bootstrap.py",
    "domain/errors.py",
    "service_layer/unit_of_work.py",
    "service_layer/context.py",
    "adapters/postgres.py",
    "entrypoints/deps.py",
    "entrypoints/errors.py",
    "entrypoints/background.py",
)

PORT_MODULES = {"service_layer/unit_of_work.py", "service_layer/ports.py"}


def _package(service: str) -> Path:
    return ROOT / "services" / service / "src" / f"fireline_{service.replace('-', '_')}"


def _modules(package: Path) -> dict[str, ast.Module]:
    return {
        path.relative_to(package).as_posix(): ast.parse(path.read_text())
        for path in sorted(package.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _base_names(node: ast.ClassDef) -> set[str]:
    names = set()
    for base in node.bases:
        if isinstance(base, ast.Name):
            names.add(base.id)
        elif isinstance(base, ast.Attribute):
            names.add(base.attr)
    return names


def _classes(tree: ast.Module) -> list[ast.ClassDef]:
    return [node for node in tree.body if isinstance(node, ast.ClassDef)]


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def repository_class_name(module: str) -> str:
    """``login_failures_repository.py`` → ``PgLoginFailureRepository``: the table group in the
    plural names the module, its singular the class."""
    words = Path(module).stem.removesuffix("_repository").split("_")
    words[-1] = _singular(words[-1])
    return "Pg" + "".join(word.capitalize() for word in words) + "Repository"


def skeleton_problems(service: str) -> list[str]:
    """What in ``service``'s tree differs from the skeleton; empty when it follows it."""
    package = _package(service)
    prefix = SERVICES[service]
    problems = []
    folders = {p.name for p in package.iterdir() if p.is_dir() and p.name != "__pycache__"} - {
        "ui"
    }  # identity's web pages: assets, no Python
    if folders != FOLDERS:
        problems.append(f"folders {sorted(folders)}, expected {sorted(FOLDERS)}")
    problems += [f"missing {name}" for name in REQUIRED if not (package / name).is_file()]
    modules = _modules(package)

    for module, tree in modules.items():
        for cls in _classes(tree):
            bases = _base_names(cls)
            if "Protocol" in bases and module not in PORT_MODULES:
                problems.append(f"Protocol {cls.name} in {module}, not in a port module")
            in_repository_module = module.startswith("adapters/") and module.endswith(
                "_repository.py"
            )
            if "PgRepository" in bases and not in_repository_module:
                problems.append(f"repository {cls.name} in {module}, not in a *_repository.py")
        if (
            "spawn"
            in {
                node.func.attr
                for node in ast.walk(tree)
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            }
            and module != "entrypoints/background.py"
        ):
            problems.append(f"{module} spawns a background loop outside entrypoints/background.py")

    for module, tree in modules.items():
        if re.fullmatch(r"adapters/\w+_repository\.py", module):
            expected = repository_class_name(module)
            public = [c.name for c in _classes(tree) if not c.name.startswith("_")]
            if public != [expected]:
                problems.append(f"{module} defines {public}, expected only {expected}")

    def defines(module: str, name: str) -> bool:
        tree = modules.get(module)
        return tree is not None and any(c.name == name for c in _classes(tree))

    if not defines("domain/errors.py", f"{prefix}Error"):
        problems.append(f"domain/errors.py does not define {prefix}Error")
    if not defines("service_layer/context.py", f"{prefix}Context"):
        problems.append(f"service_layer/context.py does not define {prefix}Context")
    if not defines("adapters/postgres.py", "PgUnitOfWork"):
        problems.append("adapters/postgres.py does not define PgUnitOfWork")
    deps = modules.get("entrypoints/deps.py")
    if deps is not None and not any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "Context" for t in node.targets)
        for node in deps.body
    ):
        problems.append("entrypoints/deps.py has no Context dependency")
    if (package / "bootstrap.py").is_file():
        bootstrap = (package / "bootstrap.py").read_text()
        if "app.state.context = " not in bootstrap:
            problems.append("bootstrap.py does not hand the context to the entrypoints")
        if "background.start(" not in bootstrap:
            problems.append("bootstrap.py does not start entrypoints/background.py's loops")
    return problems


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_service_follows_the_skeleton(service: str) -> None:
    assert skeleton_problems(service) == []


def test_every_service_is_checked() -> None:
    folders = {p.name for p in (ROOT / "services").iterdir() if (p / "src").is_dir()}
    assert folders == set(SERVICES)


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("adapters/keys_repository.py", "PgKeyRepository"),
        ("adapters/login_failures_repository.py", "PgLoginFailureRepository"),
        ("adapters/deliveries_repository.py", "PgDeliveryRepository"),
        ("adapters/key_usage_repository.py", "PgKeyUsageRepository"),
        ("adapters/timeline_repository.py", "PgTimelineRepository"),
    ],
)
def test_a_repository_is_named_after_its_table_group(module: str, expected: str) -> None:
    assert repository_class_name(module) == expected


def test_a_drifting_tree_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A copy of a conforming service, then three kinds of drift: a loop started from bootstrap,
    # a repository outside its module, and a port declared next to its use case.
    copy = tmp_path / "services" / "incidents" / "src" / "fireline_incidents"
    shutil.copytree(_package("incidents"), copy)
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert skeleton_problems("incidents") == []

    (copy / "entrypoints" / "background.py").unlink()
    (copy / "adapters" / "timeline_repository.py").rename(copy / "adapters" / "timeline.py")
    queries = copy / "service_layer" / "queries.py"
    queries.write_text(queries.read_text() + "\n\nclass Clock(Protocol): ...\n")

    assert skeleton_problems("incidents") == [
        "missing entrypoints/background.py",
        "repository PgTimelineRepository in adapters/timeline.py, not in a *_repository.py",
        "Protocol Clock in service_layer/queries.py, not in a port module",
    ]
