"""The UI tier: Debian's Chromium, driven by Playwright, against the services as processes.

The services come from the same launcher as the e2e tier (``support.stack``), so the browser
talks to exactly what a deployment runs. Never ``playwright install``: the browser is the
distribution's ``chromium`` package.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Playwright, async_playwright
from ui.ui_harness import Ui

from fireline_devtools.postgres import Postgres
from support import infra
from support.stack import Stack, running_stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="package")
def stack(
    postgres: Postgres, kafka_broker: infra.Broker, scanning_keys_file: Path
) -> Iterator[Stack]:
    """The services as processes, on the session's broker under a topic prefix of their own.

    Package scope: the processes stop when this folder's tests are done, so a full run never
    holds this stack and the e2e tier's at the same time.
    """
    with running_stack(postgres, kafka_broker, extra_env=_scanning(scanning_keys_file)) as s:
        yield s


@pytest.fixture(scope="package")
async def playwright() -> AsyncIterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install the distribution's chromium package")
    async with async_playwright() as p:
        yield p


@pytest.fixture(scope="package")
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    b = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    await b.close()


@pytest.fixture
async def ui(browser: Browser, stack: Stack) -> AsyncIterator[Ui]:
    """Opens pages on identity and logs people in; every page is closed after the test."""
    u = Ui(browser, stack)
    yield u
    await u.close()


def _scanning(keys_file: Path) -> dict[str, dict[str, str]]:
    # Identity watches a file that tests write their scanner's keys to when they need them: the
    # file is re-read when it changes, so the stack starts without one.
    return {"identity": {"FIRELINE_SECRET_SCANNING_KEYS_FILE": str(keys_file)}}
