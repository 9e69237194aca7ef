"""In a real browser: the incident list and an incident's page, live from PagerDuty to the screen.

A signed PagerDuty webhook reaches pagerduty-ingest while the list is open, and the incident shows
up without a reload; its page shows the PagerDuty events on the timeline; a note and a resolve
made there reach a second session of the same org live, and nothing reaches another org. After
logout the page's next call is refused. Every page passes axe-core with no serious or critical
violation, and the run refreshes the screenshots in docs/.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect
from ui.ui_harness import Tab, Ui

from support import infra
from support import pagerduty_fixtures as pd
from support.credentials import admin_session, exchange, new_key, new_org
from support.e2e_org import SECRET
from support.stack import Stack

pytestmark = pytest.mark.ui

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
DOCS = infra.ROOT / "docs" / "screenshots"


async def axe_violations(page: Page) -> list[str]:
    """Serious and critical axe-core findings on the page as it is now."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make test-ui` (npm installs tests/ui/package.json)")
    # Evaluated by the driver, not loaded by the page: the page's strict CSP stays untouched.
    await page.evaluate(AXE.read_text(encoding="utf-8"))
    result: dict[str, Any] = await page.evaluate("axe.run(document)")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


class PagerDuty:
    """The org's PagerDuty integration, delivering signed webhooks as PagerDuty does."""

    def __init__(self, stack: Stack, token: str) -> None:
        url = f"{stack.url('pagerduty-ingest')}/v1/integrations/pagerduty"
        r = httpx.post(
            url,
            json={"name": f"ui-{uuid.uuid4().hex[:6]}", "signing_secrets": [SECRET]},
            headers={"Authorization": f"Bearer {token}"},
            timeout=15,
        )
        assert r.status_code == 201, r.text
        self.webhook_url: str = r.json()["webhook_url"]

    def deliver(self, name: str, incident_id: str, **kw: Any) -> None:
        body = pd.delivery(name, incident_id=incident_id, **kw)
        r = httpx.post(self.webhook_url, content=body, headers=pd.signed(body, [SECRET]))
        assert r.status_code == 202, r.text


@pytest.fixture(scope="module")
def pagerduty(stack: Stack) -> PagerDuty:
    identity = admin_session(stack)
    return PagerDuty(stack, exchange(stack, new_key(identity, "ui incidents")))


@pytest.fixture
def other_org(stack: Stack) -> tuple[str, str]:
    return new_org(stack)


async def open_incidents(tab: Tab) -> Page:
    page = tab.page
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Incidents").click()
    await expect(page.get_by_role("heading", name="Incidents", exact=True)).to_be_visible()
    await expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    return page


def incident_link(page: Page, title: str) -> Any:
    return page.get_by_role("table", name="Incidents, newest first").get_by_role("link", name=title)


async def test_an_incident_arrives_live_is_acted_on_and_reaches_only_its_org(
    ui: Ui, stack: Stack, pagerduty: PagerDuty, other_org: tuple[str, str]
) -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    first = await ui.login_admin()
    second = await ui.login_admin()
    stranger = await ui.login(*other_org)
    page = await open_incidents(first)
    watcher = await open_incidents(second)
    elsewhere = await open_incidents(stranger)
    assert await axe_violations(page) == []

    # PagerDuty calls the webhook while the list is open: the row appears, no reload.
    title = f"Checkout API errors {uuid.uuid4().hex[:6]}"
    external_id = pd.new_incident_id()
    await asyncio.to_thread(pagerduty.deliver, "incident_triggered", external_id, title=title)
    await expect(incident_link(page, title)).to_be_visible()
    await expect(incident_link(watcher, title)).to_be_visible()
    await expect(page.get_by_role("list", name="Incidents by status")).to_contain_text("Triggered")
    # Title search, from the keyboard: only the matching incident is listed.
    await page.get_by_label("Title contains").fill(title[-6:])
    await page.get_by_label("Title contains").press("Enter")
    await expect(
        page.get_by_role("table", name="Incidents, newest first").locator("tbody tr")
    ).to_have_count(1)
    await page.screenshot(path=str(DOCS / "incidents-list.png"))
    await asyncio.to_thread(pagerduty.deliver, "incident_annotated", external_id)

    await incident_link(page, title).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(title)
    timeline = page.get_by_role("list").filter(has=page.locator("[data-kind]"))
    await expect(timeline.locator("[data-kind=note]")).to_have_count(1)  # the PagerDuty note
    await expect(timeline.get_by_text("via PagerDuty").first).to_be_visible()
    await expect(page.locator("#incident-facts")).to_contain_text("No creator")
    await expect(page.get_by_role("link", name="Open in PagerDuty")).to_be_visible()
    assert await axe_violations(page) == []

    await incident_link(watcher, title).click()
    await expect(watcher.get_by_role("heading", level=1)).to_contain_text(title)

    # Act from the keyboard: the note field by its label, then the buttons by name.
    note = f"Rolled back build {uuid.uuid4().hex[:4]}"
    await page.get_by_label("Add a note to the timeline").fill(note)
    await page.get_by_role("button", name="Add note").press("Enter")
    await expect(page.get_by_role("status").filter(has_text="Note added")).to_be_visible()
    await expect(page.get_by_text(note, exact=True)).to_be_visible()
    await page.get_by_role("button", name="Resolve").click()
    await expect(page.get_by_role("status").filter(has_text="Resolved.")).to_be_visible()
    await expect(page.locator("#incident-facts")).to_contain_text("Resolved")
    await page.screenshot(path=str(DOCS / "incident-page.png"), full_page=True)

    # The second session of the org sees both, live.
    await expect(watcher.get_by_text(note, exact=True)).to_be_visible()
    await expect(watcher.locator("#incident-facts")).to_contain_text("Resolved")

    # The API's own refusal is shown in words, and nothing changed.
    await page.locator("#incident-view").get_by_label("Severity").fill(" ")
    await page.get_by_role("button", name="Change severity").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page.locator("#incident-facts")).to_contain_text("Resolved")

    # Another org's open list never got the incident: its own newer one arrives, ours does not.
    their_title = f"Their own {uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(_deliver_for_other_org, stack, other_org, their_title)
    await expect(incident_link(elsewhere, their_title)).to_be_visible()
    await expect(incident_link(elsewhere, title)).to_have_count(0)

    for tab in (first, second, stranger):
        await tab.assert_clean()


def _deliver_for_other_org(stack: Stack, login: tuple[str, str], title: str) -> None:
    identity = httpx.Client(base_url=stack.url("identity"), timeout=15)
    assert identity.post("/v1/session", json={"email": login[0], "password": login[1]}).is_success
    token = exchange(stack, new_key(identity, "other org ui"))
    PagerDuty(stack, token).deliver("incident_triggered", pd.new_incident_id(), title=title)


async def test_after_logout_the_pages_next_call_is_refused(ui: Ui) -> None:
    tab = await ui.login_admin()
    # The other pages of the UI pass the same accessibility check.
    for hash_ in ("#/identity/users", "#/identity/keys", "#/identity/audit"):
        await tab.page.goto(f"/ui/app{hash_}")
        await expect(tab.page.get_by_role("heading", name="Identity Management")).to_be_visible()
        assert await axe_violations(tab.page) == [], hash_
    page = await open_incidents(tab)
    assert await axe_violations(page) == []
    session_cookie = next(c for c in await page.context.cookies() if "session" in c["name"])

    # Logged out elsewhere (another tab of the same browser): this page still shows the list.
    await page.context.request.delete("/v1/session", headers={"Origin": ui.base})
    response = await page.context.request.get(
        "/bff/v1/incidents",
        headers={"Cookie": f"{session_cookie['name']}={session_cookie['value']}"},
    )
    assert response.status == 401
    # The page's next call is refused, and the person lands on the login page.
    await page.get_by_label("Status", exact=True).select_option("resolved")
    await expect(page).to_have_url(re.compile(r"/ui/login"))
    assert await page.evaluate("localStorage.length + sessionStorage.length") == 0
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert await axe_violations(page) == []
