"""The e2e tier: the four services as processes, reached only over HTTP and Kafka."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from fireline_devtools.postgres import Postgres
from support import infra
from support.stack import LIVE, Stack, running_stack


@pytest.fixture(scope="session")
def stack(
    postgres: Postgres, session_faulty_broker: infra.Broker, scanning_keys_file: Path
) -> Iterator[Stack]:
    """The stack's broker is one tests may take away (and must bring back)."""
    extra_env = _scanning(scanning_keys_file) | _notifications()
    with running_stack(postgres, session_faulty_broker, extra_env=extra_env) as s:
        yield s


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report quotes the services' recent warnings and errors: on a CI machine
    the log files are gone with the run, and the report is all that is left."""
    report: pytest.TestReport = yield
    if report.failed and LIVE:
        complaints = "\n".join(stack.complaints() for stack in LIVE)
        report.sections.append(("services' warnings and errors", complaints))
    return report


@pytest.fixture(autouse=True)
def _broker_back(request: pytest.FixtureRequest) -> Iterator[None]:
    # A test that takes the broker away must not leave it away for the next one.
    uses_it = "stack" in request.fixturenames
    broker: infra.Broker | None = (
        request.getfixturevalue("session_faulty_broker") if uses_it else None
    )
    stack: Stack | None = request.getfixturevalue("stack") if uses_it else None
    if stack is not None and stack.unready_since is not None:
        # A stack that did not come back is not waited for again by every later test (120 s
        # each ran the CI over its time limit): one short look, then the first failure's reason.
        try:
            stack.wait_ready(timeout=15)
        except TimeoutError:
            pytest.fail(f"the stack has not been ready since {stack.unready_since}")
        stack.unready_since = None
    yield
    if broker is not None and stack is not None:
        broker.restore()
        # The services refuse tokens (503) until identity's watermarks reach them again after
        # an outage longer than the bound; the next test starts once they answer.
        try:
            stack.wait_ready()
        except TimeoutError as exc:
            stack.unready_since = f"{request.node.nodeid}: {exc}"
            UNREADY.append(f"{stack.unready_since}\n{stack.complaints(limit=8)}")
            raise


UNREADY: list[str] = []
"""Why the stack stopped answering /readyz, for the run's last lines (the CI keeps only those)."""


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for reason in UNREADY:
        terminalreporter.write_line(f"e2e stack not ready after {reason}", red=True)


def _scanning(keys_file: Path) -> dict[str, dict[str, str]]:
    # Identity watches a file that tests write their scanner's keys to when they need them: the
    # file is re-read when it changes, so the stack starts without one.
    return {"identity": {"FIRELINE_SECRET_SCANNING_KEYS_FILE": str(keys_file)}}


def _notifications() -> dict[str, dict[str, str]]:
    return {
        "notifications": {
            # The tests' receivers listen on loopback, which only the allow-list admits.
            "FIRELINE_NOTIFICATIONS_ALLOWED_HOSTS": "127.0.0.1",
            # Retries seconds apart, not minutes, so a test sees them; the same rules apply.
            "FIRELINE_NOTIFICATIONS_RETRY_SCHEDULE_S": "1,1,1",
            # The shortest lease allowed: a killed process's claims come back this soon.
            "FIRELINE_NOTIFICATIONS_LEASE_S": "16",
        }
    }
