"""docker-compose.yml, the Dockerfile and .dockerignore, checked without a Docker engine.

Each test stands for a way `docker compose up` would go wrong for a deployer: a file compose
rejects, a variable the service silently ignores (Settings use ``extra="ignore"``), a required
setting nobody sets, a port or module that does not match the code, a secret with a default
baked in, a service started before its database or broker is ready, a broker that cannot form
consumer groups, an image missing a dependency or carrying local secrets.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import SplitResult, urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pydantic import AliasChoices, SecretBytes, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from fireline_devtools.kafka import pinned_version as pinned_kafka_version
from fireline_runtime import settings_base

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# Compose service -> Python package (docs/architecture.md). Ports, settings and the image command
# are all read from the code and the files, never restated here.
FIRELINE_SERVICES = {
    "identity": "fireline_identity",
    "auth": "fireline_auth",
    "incidents": "fireline_incidents",
    "pagerduty-ingest": "fireline_pagerduty_ingest",
    "notifications": "fireline_notifications",
}
SERVICE_NAMES = sorted(FIRELINE_SERVICES)
KAFKA_SETUP = "kafka-setup"
"""The one-shot that creates the services' Kafka users and the ACLs before they start."""

# Secrets that have no safe default: compose must refuse to start without them.
REQUIRED_SECRETS = {
    "postgres": {"POSTGRES_PASSWORD"},
    "identity": {
        "FIRELINE_ADMIN_PASSWORD",
        "FIRELINE_UI_CLIENT_SECRET",
        "FIRELINE_EVENT_SIGNING_KEY",
    },
    "auth": {
        "FIRELINE_SIGNING_KEY_ENCRYPTION_KEY",
        "FIRELINE_UI_CLIENT_SECRET",
        "FIRELINE_IDENTITY_EVENT_PUBLIC_KEYS",
    },
    "incidents": {"FIRELINE_IDENTITY_EVENT_PUBLIC_KEYS"},
    "pagerduty-ingest": {"FIRELINE_INGEST_ENCRYPTION_KEY", "FIRELINE_IDENTITY_EVENT_PUBLIC_KEYS"},
    "notifications": {
        "FIRELINE_NOTIFICATIONS_ENCRYPTION_KEY",
        "FIRELINE_IDENTITY_EVENT_PUBLIC_KEYS",
    },
    "kafka": {"FIRELINE_KAFKA_ADMIN_PASSWORD"},
}
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|_KEY|_TOKEN)$")
# `${NAME:?message}`: compose stops with the message when NAME is unset *or empty*.
REQUIRED_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):\?[^}]*\}")
PLACEHOLDER = "required-{name}"
INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
)


# -- reading the files ----------------------------------------------------------------------------


@functools.cache
def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _service(name: str) -> dict[str, Any]:
    services = cast(dict[str, dict[str, Any]], _compose()["services"])
    return services[name]


def _environment(name: str) -> dict[str, str]:
    """A service's `environment:` in either compose syntax, values as written (uninterpolated)."""
    raw = _service(name).get("environment") or {}
    if isinstance(raw, list):
        pairs = (str(item).partition("=") for item in raw)
        return {key: value for key, _, value in pairs}
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


class _MustBeSet(Exception):
    """The value is `${VAR:?...}`: only the deployer can supply it."""


def _value_without_overrides(raw: str) -> str | None:
    """What compose passes when the deployer sets nothing; None if it refuses to start instead."""

    def substitute(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        op = match["op"] or ""
        if op.endswith("?"):
            raise _MustBeSet
        return match["arg"] if op.endswith("-") else ""

    try:
        return INTERPOLATION.sub(substitute, raw)
    except _MustBeSet:
        return None


def _url(raw: str) -> SplitResult:
    """A URL as written, `${VAR:?...}` replaced by ``required-VAR`` (its `?` is no query)."""
    return urlsplit(REQUIRED_INTERPOLATION.sub(lambda m: PLACEHOLDER.format(name=m["name"]), raw))


def _duration_s(value: str) -> float:
    units = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(us|ms|h|m|s)", value)
    assert parts, f"not a compose duration: {value!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


@dataclass
class _Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


@functools.cache
def _dockerfile() -> dict[str, _Stage]:
    """Build stages by name; comment lines dropped and continuation lines joined, as Docker does."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    stages: dict[str, _Stage] = {}
    current: _Stage | None = None
    for instruction in logical:
        keyword, _, args = instruction.partition(" ")
        if keyword.upper() == "FROM":
            match = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.I)
            assert match, f"unreadable FROM: {instruction}"
            current = _Stage(name=match[2] or f"stage-{len(stages)}", base=match[1])
            stages[current.name] = current
        elif current is not None:
            current.instructions.append((keyword.upper(), args.strip()))
    return stages


def _chain(target: str) -> list[_Stage]:
    """The stage and the stages it is built FROM, base first."""
    stages = _dockerfile()
    chain: list[_Stage] = []
    name: str | None = target
    while name in stages:
        chain.insert(0, stages[name])
        name = stages[name].base
    return chain


def _instructions(target: str, keyword: str) -> list[str]:
    return [args for stage in _chain(target) for kw, args in stage.instructions if kw == keyword]


def _dockerfile_env(target: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in _instructions(target, "ENV"):
        tokens = shlex.split(args)
        if tokens and "=" not in tokens[0]:  # legacy `ENV KEY value`
            env[tokens[0]] = " ".join(tokens[1:])
            continue
        for token in tokens:
            key, _, value = token.partition("=")
            env[key] = value
    return env


def _target(service: str) -> str:
    build = _service(service)["build"]
    assert isinstance(build, dict), f"{service}: build must name its Dockerfile target"
    return str(build["target"])


def _settings_class(service: str) -> type[BaseSettings]:
    module = importlib.import_module(f"{FIRELINE_SERVICES[service]}.config")
    settings = cast(object, module.Settings)
    assert isinstance(settings, type)
    assert issubclass(settings, BaseSettings)
    return settings


def _env_names(name: str, info: FieldInfo) -> set[str]:
    """Environment variable names pydantic-settings reads a field from (no prefix, any case)."""
    alias = info.validation_alias or info.alias
    if isinstance(alias, str):
        return {alias.upper()}
    if isinstance(alias, AliasChoices):
        return {choice.upper() for choice in alias.choices if isinstance(choice, str)}
    return {settings_base.env_name(name, info)}


def _fields_by_env(service: str) -> dict[str, tuple[str, FieldInfo]]:
    settings = _settings_class(service)
    return {
        env: (name, info)
        for name, info in settings.model_fields.items()
        for env in _env_names(name, info)
    }


def _service_env(service: str) -> dict[str, str]:
    """What the container sees of Fireline's settings: image ENV, then compose on top."""
    image = {
        key: value
        for key, value in _dockerfile_env(_target(service)).items()
        if key.startswith("FIRELINE_") or key in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
    }
    return {**image, **_environment(service)}


def _setting(service: str, env_name: str) -> str:
    """The setting's value in the container when the deployer overrides nothing."""
    env = _service_env(service)
    if env_name in env:
        value = _value_without_overrides(env[env_name])
        assert value is not None, f"{service}: {env_name} has no default"
        return value
    _, info = _fields_by_env(service)[env_name]
    return str(info.default)


def _http_port(service: str) -> int:
    return int(_setting(service, "FIRELINE_HTTP_PORT"))


def _is_secret(name: str, info: FieldInfo | None) -> bool:
    if SECRET_NAME.search(name):
        return True
    annotations = [info.annotation] if info is not None else []
    while annotations:
        annotation = annotations.pop()
        if annotation in (SecretStr, SecretBytes):
            return True
        annotations.extend(getattr(annotation, "__args__", ()))
    return False


# -- the Compose Specification --------------------------------------------------------------------


def test_compose_file_is_valid_under_the_compose_specification() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_the_five_services_beside_kafka_and_postgres() -> None:
    services = cast(dict[str, Any], _compose()["services"])
    built = {name for name, spec in services.items() if "build" in spec}
    assert built == {*FIRELINE_SERVICES, KAFKA_SETUP}
    assert {"kafka", "postgres"} <= set(services)


# -- settings: every variable is read, every required one is given -------------------------------


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_every_variable_given_to_a_service_is_one_of_its_settings(service: str) -> None:
    known = _fields_by_env(service)
    ignored = sorted(name for name in _service_env(service) if name.upper() not in known)
    assert not ignored, (
        f"{service} would silently ignore {ignored}: {FIRELINE_SERVICES[service]}.config.Settings "
        f"has no such field"
    )


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_every_required_setting_of_a_service_is_given(service: str) -> None:
    # Required = refused when absent: no default, or a default its validator rejects (None).
    try:
        _settings_class(service).model_validate({})
        needed: set[str] = set()
    except ValidationError as exc:
        needed = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
    given = {name.upper() for name in _service_env(service)}
    fields = _settings_class(service).model_fields
    # An error names a field by its alias where it has one (DATABASE_URL).
    by_loc = {
        info.validation_alias if isinstance(info.validation_alias, str) else name: name
        for name, info in fields.items()
    }
    missing = sorted(
        name for name in needed if not _env_names(by_loc[name], fields[by_loc[name]]) & given
    )
    assert not missing, f"{service} would refuse to start: nothing sets {missing}"


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_values_compose_gives_a_service_pass_its_settings_validation(service: str) -> None:
    fields = _fields_by_env(service)
    values: dict[str, str] = {}
    for env_name, raw in _service_env(service).items():
        value = _value_without_overrides(raw)
        if value is not None and env_name.upper() in fields:
            values[fields[env_name.upper()][0]] = value
    try:
        _settings_class(service).model_validate(values)
    except ValidationError as exc:
        # Values only the deployer supplies are absent here; everything compose fixes must pass.
        wrong = [error for error in exc.errors() if error["loc"] and error["loc"][0] in values]
        assert not wrong, f"{service}: {wrong}"


def test_auth_and_every_token_verifier_agree_on_issuer_audience_and_keys() -> None:
    verifiers = [s for s in SERVICE_NAMES if "FIRELINE_JWKS_URL" in _fields_by_env(s)]
    assert "auth" in verifiers
    for service in verifiers:
        env = _service_env(service)
        # Same expression as auth's, so the same value whatever the deployer sets: a token auth
        # issues is a token the service accepts.
        for name in ("FIRELINE_TOKEN_ISSUER", "FIRELINE_TOKEN_AUDIENCE"):
            assert env.get(name) == _service_env("auth")[name], f"{service}: {name}"
        jwks = urlsplit(_setting(service, "FIRELINE_JWKS_URL"))
        assert (jwks.hostname, jwks.port) == ("auth", _http_port("auth")), f"{service}: {jwks}"
        assert jwks.path == "/.well-known/jwks.json"


# -- ports, commands, images ----------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_published_and_exposed_port_is_the_port_the_service_listens_on(service: str) -> None:
    port = _http_port(service)
    published = [str(entry) for entry in _service(service).get("ports", [])]
    # Same number outside and in: the URLs in the docs (8001-8005) work as written.
    assert published == [f"{port}:{port}"]
    exposed = [
        int(p.split("/")[0])
        for args in _instructions(_target(service), "EXPOSE")
        for p in args.split()
    ]
    assert exposed == [port]
    assert _setting(service, "FIRELINE_HTTP_HOST") == "0.0.0.0"


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_image_target_runs_the_service_package(service: str) -> None:
    package = FIRELINE_SERVICES[service]
    build = _service(service)["build"]
    assert (ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")) == DOCKERFILE
    target = _target(service)
    assert target in _dockerfile(), f"Dockerfile has no target {target!r}"

    commands = _instructions(target, "CMD")
    assert commands, f"target {target} has no CMD"
    # Exec form: the service is PID 1 and receives SIGTERM itself (a shell would swallow it).
    assert json.loads(commands[-1]) == ["python", "-m", package]
    assert "command" not in _service(service)
    assert "entrypoint" not in _service(service)
    assert importlib.util.find_spec(f"{package}.__main__") is not None

    # The virtualenv the target copies holds this service's package and no other service's.
    copied_from = [
        m[1] for args in _instructions(target, "COPY") if (m := re.match(r"--from=(\S+)", args))
    ]
    installed = {
        directory
        for stage in copied_from
        for args in _instructions(stage, "RUN")
        if "pip install" in args
        for directory in re.findall(r"\./services/([A-Za-z0-9_.-]+)", args)
    }
    assert len(installed) == 1, f"target {target} installs services {sorted(installed)}"
    assert (ROOT / "services" / installed.pop() / "src" / package / "__main__.py").is_file()


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_image_runs_as_an_unprivileged_user(service: str) -> None:
    users = _instructions(_target(service), "USER")
    assert users, "the image would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")


def _requirements(path: Path) -> list[Requirement]:
    found: list[Requirement] = []
    for line in path.read_text().splitlines():
        text = line.split(" #", 1)[0].strip()
        if text and not text.startswith(("#", "-")):
            found.append(Requirement(text))
    return found


def _image_requirements() -> tuple[list[Requirement], set[str]]:
    """Requirements the image installs (requirements.txt), and the dev-only ones it never does."""
    assert re.search(r"pip install -r requirements\.txt", DOCKERFILE.read_text()), (
        "the Dockerfile no longer installs requirements.txt the way this test reads it"
    )
    kept = _requirements(ROOT / "requirements.txt")
    dev = _requirements(ROOT / "requirements-dev.txt")
    dev_only = {str(canonicalize_name(r.name)) for r in dev}
    return kept, dev_only - {str(canonicalize_name(r.name)) for r in kept}


def _installed_closure(requirements: Iterable[Requirement]) -> set[str]:
    """Every distribution pip installs for these requirements (resolved from this venv)."""
    seen: set[tuple[str, str]] = set()
    todo = [(canonicalize_name(r.name), extra) for r in requirements for extra in {"", *r.extras}]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        for spec in importlib.metadata.distribution(name).requires or []:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                dependency = canonicalize_name(requirement.name)
                todo.extend((dependency, e) for e in {"", *requirement.extras})
    return {name for name, _ in seen}


@dataclass(frozen=True)
class _Import:
    module: str
    where: str


def _imports(path: Path) -> Iterator[_Import]:
    def visit(nodes: Iterable[ast.AST]) -> Iterator[_Import]:
        for node in nodes:
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                yield from (_Import(a.name.split(".")[0], where) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield _Import(node.module.split(".")[0], where)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                yield from visit(node.orelse)  # the body never runs
            else:
                yield from visit(ast.iter_child_nodes(node))

    yield from visit(ast.parse(path.read_text()).body)


def test_image_installs_every_package_the_services_import() -> None:
    kept, dropped = _image_requirements()
    in_image = _installed_closure(kept)
    providers = importlib.metadata.packages_distributions()
    sources = [ROOT / "contracts" / "src", ROOT / "runtime" / "src", *ROOT.glob("services/*/src")]
    problems: list[str] = []
    for path in sorted(p for source in sources for p in source.rglob("*.py")):
        for found in _imports(path):
            module = found.module
            if module in sys.stdlib_module_names or module.startswith(("fireline_", "__")):
                continue
            dists = {canonicalize_name(d) for d in providers.get(module, [])}
            if dists & dropped:
                # Dev tooling (embedded PostgreSQL and brokers, test libraries) lives in
                # fireline_devtools and the tests, never in code an image runs.
                problems.append(f"{found.where}: {module} is dev-only, not in the image")
            elif not dists & in_image:
                problems.append(f"{found.where}: {module} comes from no requirement in the image")
    assert not problems, "\n".join(problems)


# -- secrets --------------------------------------------------------------------------------------


def test_required_secrets_stop_compose_when_missing() -> None:
    for service, names in REQUIRED_SECRETS.items():
        env = _environment(service)
        for name in names:
            match = REQUIRED_INTERPOLATION.fullmatch(env.get(name, ""))
            assert match, f"{service}: {name} must be ${{{name}:?...}}"
            assert match["name"] == name


def test_no_secret_has_a_value_or_default_in_the_file() -> None:
    services = cast(dict[str, Any], _compose()["services"])
    for service in services:
        fields = _fields_by_env(service) if service in FIRELINE_SERVICES else {}
        for name, raw in _environment(service).items():
            info = fields.get(name.upper(), (name, None))[1]
            if _is_secret(name, info):
                assert REQUIRED_INTERPOLATION.fullmatch(raw), f"{service}: {name}={raw!r}"
            if "://" in raw and (password := _url(raw).password) is not None:
                assert password.startswith(PLACEHOLDER.format(name="")), f"{service}: {name}"


# -- start-up order and health --------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_service_starts_only_when_postgres_and_kafka_are_healthy(service: str) -> None:
    depends_on = _service(service).get("depends_on")
    # The list syntax starts a service as soon as its dependency's container exists.
    assert isinstance(depends_on, dict), f"{service}: depends_on needs conditions"
    assert {"postgres", "kafka", KAFKA_SETUP} <= set(depends_on)
    for dependency, spec in depends_on.items():
        if dependency == KAFKA_SETUP:
            # A one-shot: its users and ACLs are in place once it exited 0.
            assert spec.get("condition") == "service_completed_successfully", service
            continue
        assert spec.get("condition") == "service_healthy", f"{service} -> {dependency}"
        healthcheck = _service(dependency).get("healthcheck") or {}
        assert healthcheck.get("test"), f"{service} would wait for ever on {dependency}"
        assert not healthcheck.get("disable")


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_docker_waits_for_a_graceful_shutdown(service: str) -> None:
    grace = float(_setting(service, "FIRELINE_SHUTDOWN_GRACE_S"))
    stop_grace = _duration_s(str(_service(service).get("stop_grace_period", "10s")))
    assert stop_grace > grace, f"{service}: SIGKILL after {stop_grace}s cuts a {grace}s drain"


class _ReadyzServer(ThreadingHTTPServer):
    status = 200
    paths: list[str]


class _ReadyzHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server = cast(_ReadyzServer, self.server)
        server.paths.append(self.path)
        self.send_response(server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def readyz_server() -> Iterator[_ReadyzServer]:
    server = _ReadyzServer(("127.0.0.1", 0), _ReadyzHandler)
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_healthcheck_is_healthy_exactly_when_readyz_answers_200(
    service: str, readyz_server: _ReadyzServer
) -> None:
    test = _service(service)["healthcheck"]["test"]
    # python is in the image; curl and wget are not (slim base).
    assert test[:3] == ["CMD", "python", "-c"], test
    script = str(test[3])
    at_service = f"127.0.0.1:{_http_port(service)}/readyz"
    assert at_service in script
    at_fake = script.replace(at_service, f"127.0.0.1:{readyz_server.server_port}/readyz")

    def probe(status: int, **env: str) -> int:
        readyz_server.status = status
        run = subprocess.run(
            [sys.executable, "-c", at_fake],
            env={**os.environ, **env},
            capture_output=True,
            timeout=60,
        )
        return run.returncode

    assert probe(503) != 0  # database or broker unreachable: dependents keep waiting
    assert probe(200) == 0
    # A proxy Docker hands the container (daemon proxy settings) must not catch the local probe.
    dead_proxy = "http://127.0.0.1:9"
    assert probe(200, HTTP_PROXY=dead_proxy, http_proxy=dead_proxy, NO_PROXY="", no_proxy="") == 0
    assert set(readyz_server.paths) == {"/readyz"}


# -- Kafka ----------------------------------------------------------------------------------------


def _listeners(value: str) -> dict[str, tuple[str, int]]:
    found: dict[str, tuple[str, int]] = {}
    for entry in value.split(","):
        name, _, address = entry.strip().partition("://")
        host, _, port = address.rpartition(":")
        found[name] = (host, int(port))
    return found


def test_kafka_is_a_single_kraft_node_the_services_can_reach() -> None:
    services = cast(dict[str, Any], _compose()["services"])
    assert not [name for name, spec in services.items() if "zookeeper" in f"{name} {spec}".lower()]
    kafka = _service("kafka")
    assert re.fullmatch(r"apache/kafka:\d+\.\d+\.\d+", kafka["image"]), "pin a Kafka release"
    # The release the suite and `make run` boot from Maven Central is the one compose deploys.
    assert kafka["image"] == f"apache/kafka:{pinned_kafka_version()}"
    env = _environment("kafka")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}

    listeners = _listeners(env["KAFKA_LISTENERS"])
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    network_names = {"kafka", kafka.get("hostname", "kafka")}
    voter_id, _, voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].partition("@")
    assert voter_id == env["KAFKA_NODE_ID"]  # the only voter is this node
    voter_host, _, voter_port = voter.partition(":")
    assert voter_host in network_names
    assert int(voter_port) == listeners[controller][1]

    # Clients bootstrap, then connect to the advertised address: it must be the one they use.
    advertised = {
        f"{host}:{port}"
        for name, (host, port) in _listeners(env["KAFKA_ADVERTISED_LISTENERS"]).items()
        if name != controller
    }
    for service in SERVICE_NAMES:
        bootstrap = set(_setting(service, "KAFKA_BOOTSTRAP_SERVERS").split(","))
        assert bootstrap <= advertised, f"{service} bootstraps from {bootstrap}"
        assert int(_setting(service, "FIRELINE_TOPIC_REPLICATION")) == 1  # one broker


def test_kafka_internal_topics_fit_one_broker_and_data_survives_restarts() -> None:
    env = _environment("kafka")
    # With the default of 3, __consumer_offsets is never created and no consumer group forms.
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert _value_without_overrides(env["CLUSTER_ID"])  # a formatted volume keeps its cluster id
    mounts = [str(v).split(":")[1] for v in _service("kafka").get("volumes", [])]
    assert env["KAFKA_LOG_DIRS"] in mounts
    healthcheck = " ".join(_service("kafka")["healthcheck"]["test"])
    assert "/opt/kafka/bin/kafka-broker-api-versions.sh" in healthcheck


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_service_is_its_own_kafka_principal_with_the_password_kafka_setup_sets(
    service: str,
) -> None:
    env = _environment(service)
    assert env["FIRELINE_KAFKA_SASL_USERNAME"] == service  # the ACLs name services
    password = REQUIRED_INTERPOLATION.fullmatch(env["FIRELINE_KAFKA_SASL_PASSWORD"])
    assert password, f"{service}: its Kafka password must be required"
    others = [s for s in SERVICE_NAMES if s != service]
    assert all(
        password["name"] not in _environment(o)["FIRELINE_KAFKA_SASL_PASSWORD"] for o in others
    )
    setup = dict(
        pair.split("=", 1)
        for pair in _environment(KAFKA_SETUP)["FIRELINE_KAFKA_SERVICE_PASSWORDS"].split(",")
    )
    assert setup[service] == env["FIRELINE_KAFKA_SASL_PASSWORD"]


def test_kafka_lets_no_one_in_without_authenticating_and_allows_only_what_acls_allow() -> None:
    env = _environment("kafka")
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    for name in _listeners(env["KAFKA_LISTENERS"]):
        assert protocols[name] in ("SASL_PLAINTEXT", "SASL_SSL"), name
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert env["KAFKA_SUPER_USERS"] == "User:admin"
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    setup = _environment(KAFKA_SETUP)
    assert setup["FIRELINE_KAFKA_SASL_USERNAME"] == "admin"
    assert "FIRELINE_TOPIC_PREFIX" not in setup  # the services' topics carry no prefix either


# -- monitoring (the `observability` profile) -----------------------------------------------------

MONITORING = {"prometheus", "grafana"}


def test_default_up_starts_what_it_did_and_monitoring_only_with_its_profile() -> None:
    services = cast(dict[str, dict[str, Any]], _compose()["services"])
    default = {name for name, spec in services.items() if not spec.get("profiles")}
    assert default == {"postgres", "kafka", KAFKA_SETUP, *FIRELINE_SERVICES}
    for name in MONITORING:
        assert services[name]["profiles"] == ["observability"], name


def test_prometheus_scrapes_every_service_at_its_port_and_loads_the_tested_rules() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: [t for static in job["static_configs"] for t in static["targets"]]
        for job in config["scrape_configs"]
    }
    # Job names are the service names: the alert rules and the dashboard select on them.
    # The metrics port, not the published HTTP port, which answers /metrics with 404.
    assert targets == {
        name: [f"{name}:{_setting(name, 'FIRELINE_METRICS_PORT')}"] for name in FIRELINE_SERVICES
    }
    for name in FIRELINE_SERVICES:
        published = {p.split(":")[-1] for p in _service(name).get("ports", [])}
        assert _setting(name, "FIRELINE_METRICS_PORT") not in published, name
    mounts = {v.split(":")[1]: v.split(":")[0] for v in _service("prometheus")["volumes"]}
    mounted = ROOT / mounts["/etc/prometheus"]
    for rule_file in config["rule_files"]:
        assert (mounted / Path(rule_file).relative_to("/etc/prometheus")).is_file(), rule_file


def test_grafana_provisions_the_dashboard_and_prometheus_from_the_repository() -> None:
    mounts = {v.split(":")[1]: v.split(":")[0] for v in _service("grafana")["volumes"]}
    provisioning = ROOT / mounts["/etc/grafana/provisioning"]
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "fireline.yml").read_text())[
        "providers"
    ]
    dashboards = ROOT / mounts[provider["options"]["path"]]
    assert (dashboards / "fireline.json").is_file()
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert urlsplit(source["url"]).hostname == "prometheus"
    assert {"127.0.0.1:9090:9090"} == set(_service("prometheus")["ports"])
    assert {"127.0.0.1:3000:3000"} == set(_service("grafana")["ports"])


# -- PostgreSQL -----------------------------------------------------------------------------------


def test_postgres_creates_a_database_for_each_service_on_first_start() -> None:
    postgres = _service("postgres")
    assert str(postgres["image"]).startswith("postgres:16")
    volumes = [str(v).split(":") for v in postgres.get("volumes", [])]
    init = [
        ROOT / source for source, target, *_ in volumes if target == "/docker-entrypoint-initdb.d"
    ]
    assert len(init) == 1
    assert init[0].is_dir()
    assert "/var/lib/postgresql/data" in [target for _, target, *_ in volumes]
    created = {
        name
        for script in init[0].glob("*.sql")
        for name in re.findall(r"CREATE\s+DATABASE\s+(\w+)", script.read_text(), re.I)
    }

    user = _environment("postgres")["POSTGRES_USER"]
    used: dict[str, str] = {}
    for service in SERVICE_NAMES:
        url = _url(_service_env(service)["DATABASE_URL"])
        assert url.scheme in ("postgresql", "postgres")
        assert (url.hostname, url.port or 5432, url.username) == ("postgres", 5432, user)
        assert url.password == PLACEHOLDER.format(name="POSTGRES_PASSWORD")
        used[service] = url.path.lstrip("/")
    assert set(used.values()) <= created, f"not created: {set(used.values()) - created}"
    assert len(set(used.values())) == len(used), f"services share a database: {used}"


def test_postgres_is_healthy_only_once_it_accepts_tcp_connections() -> None:
    test = _service("postgres")["healthcheck"]["test"]
    # During initialisation the server listens on its Unix socket only; ready means TCP.
    assert "pg_isready" in " ".join(test)
    assert "-h" in test


# -- build context --------------------------------------------------------------------------------


def _excluded_from_context(path: str) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent wins."""
    excluded = False
    parents = ["/".join(path.split("/")[: i + 1]) for i in range(path.count("/") + 1)]
    for line in DOCKERIGNORE.read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        regex = "".join(
            "(?:.*/)?"
            if token == "**/"
            else ".*"
            if token == "**"
            else "[^/]*"
            if token == "*"
            else "[^/]"
            if token == "?"
            else re.escape(token)
            for token in re.findall(r"\*\*/|\*\*|\*|\?|[^*?]+", pattern)
        )
        if any(re.fullmatch(regex, parent) for parent in parents):
            excluded = not negated
    return excluded


def test_build_context_holds_the_sources_and_no_local_state() -> None:
    copied = [
        source
        for stage in _dockerfile().values()
        for keyword, args in stage.instructions
        if keyword == "COPY" and not args.startswith("--from")
        for source in shlex.split(args)[:-1]
    ]
    needed: list[str] = []
    for source in copied:
        path = ROOT / source
        if path.is_file():
            needed.append(source)
            continue
        for file in path.rglob("*"):
            relative = file.relative_to(ROOT).as_posix()
            if file.is_file() and (
                file.name in ("pyproject.toml", "py.typed")
                or (
                    "/src/" in relative
                    and ".egg-info" not in relative
                    and file.suffix in (".py", ".sql", ".html", ".css", ".js", ".json")
                )
            ):
                needed.append(relative)
    assert needed
    assert not [p for p in needed if _excluded_from_context(p)]
    local_state = [
        ".env",
        ".venv/bin/python",
        ".git/config",
        ".fireline/dev-secrets.json",
        ".notes/HELPER_BRIEF.md",
        "test-artifacts/logs/identity.log",
        "tests/conftest.py",
        "services/identity/.env",
        "services/identity/src/fireline_identity.egg-info/PKG-INFO",
        "runtime/src/fireline_runtime/__pycache__/service.cpython-311.pyc",
    ]
    assert [p for p in local_state if not _excluded_from_context(p)] == []
