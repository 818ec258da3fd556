"""Real-browser fixtures: Playwright (sync API) driving Debian's /usr/bin/chromium against live_server.

Use them in any e2e test:

    pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

    def test_something(page, live_server, login, annotator):
        login(page, annotator)
        page.goto(live_server.url + "/")
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run next to
# one unless told that the test code is really synchronous (it is).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("PREFLOOP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT_DIR = Path(os.environ.get("PREFLOOP_SCREENSHOT_DIR", "var/screenshots"))


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Launch one headless chromium for the whole session."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (see README: Tests)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def context(browser) -> Iterator:
    """Give each test a fresh browser context (own cookies), desktop-sized."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context) -> Iterator:
    """Open a page that fails the test on any JavaScript error or CSP violation."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: (
            errors.append(f"console: {msg.text}")
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    page.js_errors = errors  # type: ignore[attr-defined]
    yield page
    assert not errors, "JavaScript errors on the page:\n" + "\n".join(errors)


@pytest.fixture
def login(live_server) -> Callable:
    """Return login(page, user, password=...) that logs in through the real login form."""
    from tests.factories import PASSWORD

    def _login(page, user, password: str = PASSWORD) -> None:
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", password)
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert "/login/" not in page.url, f"login failed for {user.username}"

    return _login


@pytest.fixture
def screenshot() -> Callable[..., Path]:
    """Return screenshot(page, name) that saves a full-page PNG under var/screenshots/."""

    def _shot(page, name: str) -> Path:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOT_DIR / f"{name}.png"
        # caret="initial": hiding the caret makes Playwright add inline styles, which the CSP
        # reports (and htmx would copy on the next swap), failing the `page` fixture's check.
        page.screenshot(path=str(path), full_page=True, caret="initial")
        return path

    return _shot
