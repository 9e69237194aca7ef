"""Every /ui/ response carries a CSP without inline script, and the pages need none."""

from __future__ import annotations

import re

import httpx
import pytest

from support.stack import Stack

pytestmark = pytest.mark.ui

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)

PAGES = ["/ui/login", "/ui/app"]
ASSETS = {
    "/ui/assets/app.js": "text/javascript",
    "/ui/assets/keys.js": "text/javascript",
    "/ui/assets/users.js": "text/javascript",
    "/ui/assets/login.js": "text/javascript",
    "/ui/assets/api.js": "text/javascript",
    "/ui/assets/styles.css": "text/css",
    "/ui/assets/favicon.svg": "image/svg+xml",
}
NOT_FOUND = [
    "/ui/nowhere",
    "/ui/assets/missing.js",
    "/ui/assets/app.html",
    "/ui/assets/..%2F..%2Fconfig.py",
    "/ui/assets/.hidden.js",
]


def assert_hardened(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == CSP, response.url
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


def test_every_ui_response_carries_the_security_headers(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url("identity"), timeout=10) as client:
        for path in ("/ui", "/ui/"):
            r = client.get(path)
            assert r.status_code == 303
            assert r.headers["location"] == "/ui/app"
            assert_hardened(r)
        for path in PAGES:
            r = client.get(path)
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/html")
            assert r.headers["cache-control"] == "no-store"
            assert_hardened(r)
        for path, media_type in ASSETS.items():
            r = client.get(path)
            assert r.status_code == 200, path
            assert r.headers["content-type"].startswith(media_type)
            assert_hardened(r)
        for path in NOT_FOUND:
            r = client.get(path)
            assert r.status_code == 404, path
            assert_hardened(r)


def test_pages_have_no_inline_script_style_or_event_handlers(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url("identity"), timeout=10) as client:
        for path in PAGES:
            html = client.get(path).text
            scripts = re.findall(r"<script\b[^>]*>", html, flags=re.IGNORECASE)
            assert scripts, f"{path} loads its script from a file"
            for tag in scripts:
                assert re.search(r'\bsrc="/ui/assets/[a-z-]+\.js"', tag), tag
            assert not re.search(r"<script\b[^>]*>(?!</script>)", html), "no inline script body"
            assert not re.search(r"\son[a-z]+\s*=", html, flags=re.IGNORECASE), "no on* handlers"
            assert not re.search(r"\sstyle\s*=", html, flags=re.IGNORECASE), "no inline styles"
            assert "<style" not in html.lower()
