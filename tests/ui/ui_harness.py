"""The browser tests' harness: pages in Debian's Chromium, logged in as a person would.

Every page carries a probe for CSP violations, and its console errors are kept, so a test can
check the page stayed clean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, ViewportSize, expect

from support import infra
from support.stack import Stack

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
SCREENSHOTS = infra.ARTIFACTS / "ui"
GENERATE = "+ Generate New Key"

# Waiting is not asserting on speed: this machine is shared, so expectations may wait this long.
expect.set_options(timeout=15_000)

# Collects CSP violations inside the page. Init scripts are injected by the driver, not by the
# page, so the page's own CSP does not block this one.
_CSP_PROBE = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


# ---- helpers ----------------------------------------------------------------------------------


@dataclass
class Tab:
    """A page plus the errors its console reported."""

    page: Page
    console_errors: list[str] = field(default_factory=list)

    async def csp_violations(self) -> list[str]:
        seen: list[str] = await self.page.evaluate("window.__cspViolations || []")
        logged = [m for m in self.console_errors if "Content Security Policy" in m]
        return seen + logged

    def script_errors(self) -> list[str]:
        return [m for m in self.console_errors if m.startswith("uncaught:")]

    async def assert_clean(self) -> None:
        """No CSP violation and no uncaught script error happened on this page."""
        assert await self.csp_violations() == []
        assert self.script_errors() == []


@dataclass
class Ui:
    """Opens browser contexts on the identity service and logs people in."""

    browser: Browser
    stack: Stack
    contexts: list[BrowserContext] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.stack.url("identity")

    async def tab(self, viewport: ViewportSize | None = None) -> Tab:
        context = await self.browser.new_context(
            base_url=self.base, viewport=viewport or DESKTOP, locale="en-GB"
        )
        await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=self.base)
        await context.add_init_script(_CSP_PROBE)
        self.contexts.append(context)
        page = await context.new_page()
        tab = Tab(page)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                tab.console_errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: tab.console_errors.append(f"uncaught: {exc}"))
        return tab

    async def login(self, email: str, password: str, viewport: ViewportSize | None = None) -> Tab:
        tab = await self.tab(viewport)
        page = tab.page
        await page.goto("/ui/")
        await expect(page).to_have_url(re.compile(r"/ui/login$"))
        # The page puts the cursor in the email field itself; typing starts once it has.
        await expect(page.get_by_label("Email")).to_be_focused()
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Log in").click()
        await expect(page).to_have_url(re.compile(r"/ui/app"))
        # The app opens on the incident list.
        await expect(page.get_by_role("heading", name="Incidents", exact=True)).to_be_visible()
        return tab

    async def login_admin(self, viewport: ViewportSize | None = None) -> Tab:
        return await self.login(self.stack.admin_email, self.stack.admin_password, viewport)

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()
