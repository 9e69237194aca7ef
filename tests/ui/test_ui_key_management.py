"""In a real browser: Key Management as the product promises it, plus Users, sessions and the
Audit log.

Chromium (Debian's package) drives identity's /ui/ pages, which talk only to identity's JSON API;
the key a person copies is then exchanged for a token at the auth process. Screenshots of every
step land in ``test-artifacts/ui/``.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import (
    Page,
    expect,
)
from ui.ui_harness import GENERATE, PHONE, SCREENSHOTS, Ui

from support.secret_scanning import Scanner, report, write_keys_file
from support.stack import Stack

pytestmark = pytest.mark.ui


class AdminApi:
    """The admin's JSON API session, to arrange state a test is not about."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.client = httpx.AsyncClient(base_url=stack.url("identity"), timeout=15)

    async def login(self) -> None:
        r = await self.client.post(
            "/v1/session",
            json={"email": self.stack.admin_email, "password": self.stack.admin_password},
        )
        assert r.status_code == 200, r.text

    async def active_keys(self) -> list[dict[str, Any]]:
        r = await self.client.get("/v1/api-keys")
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return [k for k in items if k["status"] == "active"]

    async def create_key(self, name: str) -> dict[str, Any]:
        r = await self.client.post("/v1/api-keys", json={"name": name})
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    async def revoke(self, key_id: str) -> None:
        r = await self.client.delete(f"/v1/api-keys/{key_id}")
        assert r.status_code == 204, r.text

    async def audit_entries(self, **params: str) -> list[dict[str, Any]]:
        r = await self.client.get("/v1/audit-events", params=params)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    async def wait_for_audit(self, **params: str) -> list[dict[str, Any]]:
        """The entries matching ``params`` once there are any (they arrive over Kafka)."""
        deadline = time.monotonic() + 30
        while not (found := await self.audit_entries(**params)):
            assert time.monotonic() < deadline, f"no audit entry for {params}"
            await asyncio.sleep(0.2)
        return found

    async def fill_to(self, count: int) -> None:
        """Revoke or create keys until the org has exactly ``count`` active keys."""
        active = await self.active_keys()
        for key in active[count:]:
            await self.revoke(key["id"])
        for _ in range(count - len(active)):
            await self.create_key(f"service {secrets.token_hex(3)}")


@pytest.fixture
async def admin_api(stack: Stack) -> AsyncIterator[AdminApi]:
    api = AdminApi(stack)
    await api.login()
    yield api
    await api.client.aclose()


async def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path


async def open_identity_management(page: Page) -> None:
    """Select Identity Management in the sidebar (the app opens on the incident list)."""
    menu = page.get_by_role("button", name="Menu")
    if await menu.is_visible():  # narrow screens fold the sidebar away
        await menu.click()
    sidebar = page.get_by_role("navigation", name="Main")
    await sidebar.get_by_role("link", name="Identity Management").click()
    await expect(page.get_by_role("heading", name="Identity Management")).to_be_visible()


async def open_key_management(page: Page) -> None:
    """Step 1: select Identity Management in the sidebar, then the Key Management tab."""
    await open_identity_management(page)
    await page.get_by_role("tab", name="Key Management").click()
    await expect(page.get_by_role("tab", name="Key Management")).to_have_attribute(
        "aria-selected", "true"
    )
    await expect(page.locator("#key-count")).to_contain_text("active keys")


def key_rows(page: Page) -> Any:
    return page.locator("#keys-table tbody tr")


async def exchange_at_auth(stack: Stack, key_id: str, key: str) -> httpx.Response:
    """POST /oauth/token with the key; waits for KeyCreated to reach auth over Kafka first."""
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(timeout=10) as client:
        while True:
            r = await client.post(
                f"{stack.url('auth')}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(key_id, key),
            )
            if r.status_code == 200 or time.monotonic() > deadline:
                return r
            await asyncio.sleep(0.2)


# ---- the promised flow ------------------------------------------------------------------------


async def test_generate_copy_and_close_a_key_in_five_steps_then_exchange_it(
    ui: Ui, admin_api: AdminApi, stack: Stack
) -> None:
    await admin_api.fill_to(3)
    tab = await ui.login_admin()
    page = tab.page

    # 1. Sidebar → Identity Management → Key Management tab.
    await open_key_management(page)
    await expect(key_rows(page)).to_have_count(3)
    await screenshot(page, "step1-identity-management-key-management")

    # 2. + Generate New Key.
    await page.get_by_role("button", name=GENERATE).click()
    dialog = page.get_by_role("dialog", name="Generate a new API key")
    await expect(dialog).to_be_visible()
    name_field = dialog.get_by_label("Enter a Name for the Key")
    await expect(name_field).to_be_focused()
    await screenshot(page, "step2-generate-dialog")

    # 3. Enter a memorable name, then Create.
    name = f"Deploy bot {secrets.token_hex(2)}"
    await name_field.fill(name)
    await screenshot(page, "step3-name-entered")
    await dialog.get_by_role("button", name="Create").click()

    # 4. The key is shown once; Copy puts it on the clipboard; Close.
    reveal = page.get_by_role("dialog", name="Your new API key")
    await expect(reveal).to_be_visible()
    await expect(reveal).to_contain_text("This key will not be displayed again")
    key = (await reveal.locator("#reveal-key").inner_text()).strip()
    assert re.fullmatch(r"flk_[0-9A-Za-z]{30,}", key), "the dialog shows a whole Fireline key"
    await reveal.get_by_role("button", name="Copy").click()
    await expect(reveal.locator("#copy-status")).to_have_text("Copied to the clipboard.")
    assert await page.evaluate("navigator.clipboard.readText()") == key
    await screenshot(page, "step4-key-shown-and-copied")
    await reveal.get_by_role("button", name="Close").click()
    await expect(reveal).to_be_hidden()

    # 5. The key is in the list; its secret is nowhere on the page, then or after a reload.
    row = key_rows(page).filter(has_text=name)
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("Active")
    await expect(row).to_contain_text(key[-4:])  # the hint ends with the key's last characters
    await expect(key_rows(page)).to_have_count(4)
    assert key not in await page.content()
    await screenshot(page, "step5-key-in-list")
    await page.reload()
    await expect(row).to_have_count(1)
    assert key not in await page.content()

    # The copied key is a working credential: auth exchanges it for a token.
    key_id = await row.get_attribute("data-key-id")
    assert key_id
    copied = await page.evaluate("navigator.clipboard.readText()")
    token = await exchange_at_auth(stack, key_id, copied)
    assert token.status_code == 200, token.text
    assert token.json()["token_type"] == "Bearer"
    assert token.json()["access_token"]

    await tab.assert_clean()


async def test_ten_active_keys_disable_generate_and_revoking_one_frees_a_slot(
    ui: Ui, admin_api: AdminApi
) -> None:
    await admin_api.fill_to(10)
    tab = await ui.login_admin()
    page = tab.page
    await open_key_management(page)

    generate = page.get_by_role("button", name=GENERATE)
    reason = page.locator("#key-limit-reason")
    await expect(generate).to_be_disabled()
    await expect(reason).to_be_visible()
    await expect(reason).to_contain_text("10 active keys")
    await expect(page.locator("#key-count")).to_have_text("10 of 10 active keys")
    await screenshot(page, "limit-10-generate-disabled")

    # Revoke asks first, with the safe choice focused.
    victim = key_rows(page).first
    victim_id = await victim.get_attribute("data-key-id")
    await victim.get_by_role("button", name="Revoke").click()
    confirm = page.get_by_role("alertdialog", name="Revoke this key?")
    await expect(confirm).to_be_visible()
    await expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    await screenshot(page, "revoke-confirmation")
    await confirm.get_by_role("button", name="Revoke key").click()
    await expect(confirm).to_be_hidden()

    gone = page.locator(f'#keys-table tr[data-key-id="{victim_id}"]')
    await expect(gone).to_have_count(0)
    await expect(key_rows(page)).to_have_count(9)
    await expect(generate).to_be_enabled()
    await expect(reason).to_be_hidden()
    assert victim_id not in {k["id"] for k in await admin_api.active_keys()}

    # Kept for audit: the revoked key is listed when asked for, without actions.
    await page.get_by_label("Show revoked keys").check()
    await expect(gone).to_contain_text("Revoked")
    await expect(gone.get_by_role("button")).to_have_count(0)
    await page.get_by_label("Show revoked keys").uncheck()
    await expect(gone).to_have_count(0)

    # Another admin takes the last slot while this dialog is open: the API's answer is shown.
    await generate.click()
    dialog = page.get_by_role("dialog", name="Generate a new API key")
    await dialog.get_by_label("Enter a Name for the Key").fill("One too many")
    await admin_api.create_key("Taken elsewhere")
    await dialog.get_by_role("button", name="Create").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("already has 10 active keys")
    await screenshot(page, "limit-reached-error")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(generate).to_be_disabled()
    assert len(await admin_api.active_keys()) == 10

    await tab.assert_clean()


async def test_empty_name_is_refused_in_plain_words_and_keys_can_be_renamed_by_keyboard(
    ui: Ui, admin_api: AdminApi
) -> None:
    await admin_api.fill_to(4)
    tab = await ui.login_admin()
    page = tab.page
    await open_key_management(page)

    generate = page.get_by_role("button", name=GENERATE)
    await generate.focus()
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Generate a new API key")
    await expect(dialog.get_by_label("Enter a Name for the Key")).to_be_focused()
    await page.keyboard.press("Enter")  # submits the empty name
    await expect(dialog.get_by_role("alert")).to_have_text("Enter a name for the key.")
    await screenshot(page, "empty-name-error")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(generate).to_be_focused()
    assert len(await admin_api.active_keys()) == 4

    row = key_rows(page).first
    key_id = await row.get_attribute("data-key-id")
    await row.get_by_role("button", name="Rename").click()
    rename = page.get_by_role("dialog", name="Rename key")
    field_ = rename.get_by_label("New name")
    await expect(field_).to_be_focused()
    new_name = f"Renamed {secrets.token_hex(2)}"
    await field_.fill(new_name)
    await page.keyboard.press("Enter")
    await expect(rename).to_be_hidden()
    await expect(page.locator(f'#keys-table tr[data-key-id="{key_id}"] th')).to_have_text(new_name)

    await tab.assert_clean()


async def test_scopes_and_expiry_chosen_in_the_dialog_are_listed(
    ui: Ui, admin_api: AdminApi
) -> None:
    await admin_api.fill_to(5)
    tab = await ui.login_admin()
    page = tab.page
    await open_key_management(page)

    await page.get_by_role("button", name=GENERATE).click()
    dialog = page.get_by_role("dialog", name="Generate a new API key")
    name = f"Read-only reporter {secrets.token_hex(2)}"
    await dialog.get_by_label("Enter a Name for the Key").fill(name)
    await dialog.get_by_text("Scopes and expiry (optional)").click()
    await dialog.get_by_label("integrations:read").uncheck()
    await dialog.get_by_label("integrations:write").uncheck()
    await dialog.get_by_label("incidents:write").uncheck()
    await dialog.get_by_label("webhooks:read").uncheck()
    await dialog.get_by_label("webhooks:write").uncheck()
    expiry = date.today() + timedelta(days=30)
    await dialog.get_by_label("Expires on").fill(expiry.isoformat())
    await dialog.get_by_role("button", name="Create").click()
    reveal = page.get_by_role("dialog", name="Your new API key")
    await reveal.get_by_role("button", name="Close").click()

    row = key_rows(page).filter(has_text=name)
    await expect(row.locator('[data-label="Scopes"]')).to_have_text("incidents:read")
    expires_at = await row.locator('[data-label="Expiry"] time').get_attribute("datetime")
    assert expires_at is not None
    assert datetime.fromisoformat(expires_at).astimezone().date() == expiry
    await tab.assert_clean()


async def test_phone_layout_folds_the_sidebar_and_stays_readable(
    ui: Ui, admin_api: AdminApi
) -> None:
    await admin_api.fill_to(3)
    tab = await ui.login_admin(viewport=PHONE)
    page = tab.page
    sidebar_link = page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Identity Management"
    )
    await expect(sidebar_link).to_be_hidden()
    await page.get_by_role("button", name="Menu").click()
    await expect(sidebar_link).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(sidebar_link).to_be_hidden()

    await open_key_management(page)
    await expect(key_rows(page)).to_have_count(3)
    await expect(page.get_by_role("button", name=GENERATE)).to_be_visible()
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, "nothing is cut off sideways at 390 px"
    await screenshot(page, "step5-key-list-390x844")

    await tab.assert_clean()


# ---- people and sessions ----------------------------------------------------------------------


async def test_admin_adds_a_member_who_sees_keys_without_controls_until_deactivated(
    ui: Ui, admin_api: AdminApi
) -> None:
    await admin_api.fill_to(2)
    admin = await ui.login_admin()
    page = admin.page

    await open_identity_management(page)
    await page.get_by_role("tab", name="Users").click()
    await page.get_by_role("button", name="+ Add User").click()
    dialog = page.get_by_role("dialog", name="Add a user")
    await expect(dialog.get_by_label("Email")).to_be_focused()
    email = f"member-{secrets.token_hex(3)}@example.com"
    password = secrets.token_urlsafe(16)
    await dialog.get_by_label("Email").fill(email)
    await dialog.get_by_label("Name").fill("Morgan Member")
    await dialog.get_by_label("Role").select_option("member")
    await dialog.get_by_label("Password").fill(password)
    await screenshot(page, "users-add-dialog")
    await dialog.get_by_role("button", name="Add user").click()
    await expect(dialog).to_be_hidden()
    user_row = page.locator("#users-table tbody tr", has_text=email)
    await expect(user_row).to_contain_text("Member")
    await expect(user_row).to_contain_text("Active")
    await screenshot(page, "users-list")

    member = await ui.login(email, password)
    await open_key_management(member.page)
    await expect(key_rows(member.page)).to_have_count(2)
    await expect(member.page.get_by_role("button", name=GENERATE)).to_have_count(0)
    await expect(member.page.get_by_role("button", name="Rename")).to_have_count(0)
    await expect(member.page.get_by_role("button", name="Revoke")).to_have_count(0)
    await screenshot(member.page, "member-key-list")
    await member.page.get_by_role("tab", name="Users").click()
    await expect(member.page.get_by_role("alert")).to_have_text(
        "Only admins can see the list of users."
    )
    await expect(member.page.get_by_role("button", name="+ Add User")).to_have_count(0)
    # The tabs follow the keyboard pattern screen-reader users expect: arrows move between them.
    await member.page.get_by_role("tab", name="Users").focus()
    await member.page.keyboard.press("ArrowRight")
    key_tab = member.page.get_by_role("tab", name="Key Management")
    await expect(key_tab).to_be_focused()
    await expect(key_tab).to_have_attribute("aria-selected", "true")

    await user_row.get_by_role("button", name="Deactivate").click()
    confirm = page.get_by_role("alertdialog", name="Deactivate this user?")
    await confirm.get_by_role("button", name="Deactivate").click()
    await expect(confirm).to_be_hidden()
    await expect(user_row).to_contain_text("Deactivated")

    # The member's next request finds the session gone and lands on the login page.
    await member.page.get_by_label("Show revoked keys").click()
    await expect(member.page).to_have_url(re.compile(r"/ui/login\?reason=expired$"))
    await expect(member.page.get_by_role("status")).to_have_text(
        "Your session has ended. Please log in again."
    )

    await admin.assert_clean()
    await member.assert_clean()


async def test_wrong_password_is_explained_and_logout_ends_the_session(ui: Ui) -> None:
    tab = await ui.tab()
    page = tab.page
    await page.goto("/ui/app")
    await expect(page).to_have_url(re.compile(r"/ui/login$"))
    await page.get_by_label("Email").fill(ui.stack.admin_email)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_have_text("The email or password is not correct.")
    await screenshot(page, "login-error")
    await tab.assert_clean()

    admin = await ui.login_admin()
    await admin.page.get_by_role("button", name="Log out").click()
    await expect(admin.page).to_have_url(re.compile(r"/ui/login\?reason=logged-out$"))
    await admin.page.goto("/ui/app")
    await expect(admin.page).to_have_url(re.compile(r"/ui/login$"))
    await admin.assert_clean()


# ---- rotation and leaked keys -----------------------------------------------------------------


async def test_rotate_a_key_with_a_grace_period_and_see_the_old_secret_still_in_use(
    ui: Ui, admin_api: AdminApi, stack: Stack
) -> None:
    await admin_api.fill_to(2)
    name = f"Rotating bot {secrets.token_hex(2)}"
    old = await admin_api.create_key(name)
    assert (await exchange_at_auth(stack, old["id"], old["key"])).status_code == 200
    tab = await ui.login_admin()
    page = tab.page
    await open_key_management(page)
    row = key_rows(page).filter(has_text=name)

    await row.get_by_role("button", name=f"Rotate key {name}").click()
    dialog = page.get_by_role("dialog", name=f"Rotate key “{name}”")
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("Keep the old secret working for").select_option(label="1 hour")
    await screenshot(page, "rotate-dialog")
    await dialog.get_by_role("button", name="Rotate").click()

    # The same show-once dialog as creation, saying how long the old secret lasts.
    reveal = page.get_by_role("dialog", name="Your key's new secret")
    await expect(reveal).to_be_visible()
    await expect(reveal).to_contain_text("This key will not be displayed again")
    await expect(reveal).to_contain_text("The old secret keeps working for 1 hour.")
    await expect(reveal.locator("#reveal-id")).to_have_text(old["id"])
    new = (await reveal.locator("#reveal-key").inner_text()).strip()
    assert re.fullmatch(r"flk_[0-9A-Za-z]{33}", new)
    assert new != old["key"]
    await screenshot(page, "rotate-new-secret-shown")
    await reveal.get_by_role("button", name="Close").click()
    await expect(page.locator("#keys-message")).to_have_text(f"Key “{name}” has a new secret.")

    await expect(row).to_contain_text("Rotating: old secret works until")
    await expect(row).to_contain_text("Old secret not used since the rotation.")
    await expect(row).to_contain_text(new[-4:])
    assert new not in await page.content()

    # Both secrets work; the machine still on the old one shows up in the list.
    assert (await exchange_at_auth(stack, old["id"], new)).status_code == 200
    assert (await exchange_at_auth(stack, old["id"], old["key"])).status_code == 200
    deadline = time.monotonic() + 30
    while "Old secret still used" not in await row.inner_text():
        assert time.monotonic() < deadline, "the old secret's use never reached the list"
        await page.reload()
        await expect(row).to_have_count(1)
    await screenshot(page, "rotate-old-secret-in-use")

    await tab.assert_clean()


async def test_a_key_revoked_as_leaked_says_so_with_the_report(
    ui: Ui, admin_api: AdminApi, stack: Stack, scanning_keys_file: Path
) -> None:
    scanner = Scanner(f"ui-{secrets.token_hex(3)}")
    write_keys_file(scanning_keys_file, scanner)
    name = f"Leaky bot {secrets.token_hex(2)}"
    leaked = await admin_api.create_key(name)
    body = report(leaked["key"], url="https://github.com/acme/app/blob/main/.env")
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(
            f"{stack.url('identity')}/v1/secret-scanning/github",
            content=body,
            headers=scanner.headers(body),
        )
    assert answer.status_code == 200, answer.text
    tab = await ui.login_admin()
    page = tab.page
    await open_key_management(page)

    await page.get_by_label("Show revoked keys").check()
    row = key_rows(page).filter(has_text=name)
    await expect(row).to_contain_text("Revoked: leaked")
    link = row.get_by_role("link", name="report")
    await expect(link).to_have_attribute("href", "https://github.com/acme/app/blob/main/.env")
    await expect(row.get_by_role("button", name=f"Rotate key {name}")).to_have_count(0)
    await screenshot(page, "leaked-key-revoked")
    await tab.assert_clean()


# ---- the audit log ----------------------------------------------------------------------------


async def test_admin_reads_filters_and_exports_the_audit_log(ui: Ui, admin_api: AdminApi) -> None:
    key = await admin_api.create_key(f"audited {secrets.token_hex(3)}")
    await admin_api.revoke(key["id"])
    await admin_api.wait_for_audit(action="key.revoked", target=key["id"])
    await admin_api.wait_for_audit(action="login.succeeded")  # another topic: waited apart
    admin = await ui.login_admin()
    page = admin.page

    await open_identity_management(page)
    await page.get_by_role("tab", name="Audit log").click()
    await expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    rows = page.locator("#audit-table tbody tr")
    await expect(rows.first).to_be_visible()
    await expect(
        page.locator("#audit-table tbody tr[data-action='login.succeeded']").first
    ).to_contain_text("Login succeeded")

    await page.get_by_label("Action").select_option("key.revoked")
    await page.get_by_label("Target id").fill(key["id"])
    await page.get_by_role("button", name="Apply filters").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Key revoked")
    await expect(rows.first).to_contain_text(ui.stack.admin_email.lower())
    await expect(rows.first).not_to_contain_text(key["key"])
    await screenshot(page, "audit-log-filtered")

    href = await page.get_by_role("link", name="Export (JSON Lines)").get_attribute("href")
    assert href is not None
    assert "action=key.revoked" in href
    exported = await page.request.get(href)
    assert exported.ok
    lines = (await exported.text()).splitlines()
    assert len(lines) == 1
    assert key["id"] in lines[0]
    assert key["key"] not in lines[0]

    await page.get_by_label("Actor (user or key id, secret_scanner, system)").fill("somebody")
    await page.get_by_role("button", name="Apply filters").click()
    await expect(page.locator("#audit-error")).to_contain_text("Check the filters: actor")
    await admin.assert_clean()


async def test_members_do_not_see_the_audit_log(ui: Ui, admin_api: AdminApi) -> None:
    email = f"reader-{secrets.token_hex(3)}@example.com"
    password = secrets.token_urlsafe(16)
    r = await admin_api.client.post(
        "/v1/users", json={"email": email, "name": "Reader", "role": "member", "password": password}
    )
    assert r.status_code == 201, r.text

    member = await ui.login(email, password)
    await open_identity_management(member.page)
    await expect(member.page.get_by_role("tab", name="Key Management")).to_be_visible()
    await expect(member.page.get_by_role("tab", name="Audit log")).to_be_hidden()
    # A bookmarked audit link falls back to the first tab rather than an error.
    await member.page.goto("/ui/app#/identity/audit")
    await expect(member.page.get_by_role("tab", name="Users")).to_have_attribute(
        "aria-selected", "true"
    )
    await member.assert_clean()
