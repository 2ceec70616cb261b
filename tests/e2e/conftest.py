"""Browser tests: the editor desk and the partner portal in headless Chromium, against the real
stack. Debian's ``chromium`` (``make test`` installs it when missing; Playwright downloads no
browser), driven by Playwright with its ``executable_path``.

The stack is this module's own (Kafka, FerretDB and the three services, as the fault suite does):
the desk corrects and withdraws the sample articles that the integration tests also submit, so
sharing their database would make both depend on the order they run in.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.conftest import started_infra
from tests.integration.conftest import System, started_system

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (make test installs Debian's chromium)")
    with (
        started_infra(tmp_path_factory.mktemp("e2e-stack"), None, None) as infra,
        started_system(infra, tmp_path_factory.mktemp("e2e-services")) as system,
    ):
        yield system


@pytest.fixture(scope="module")
async def browser(stack: System) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield chromium
        finally:
            await chromium.close()


@asynccontextmanager
async def desktop_tab(browser: Browser) -> AsyncIterator[Page]:
    """A tab in a browser context of its own (its own cookies)."""
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    context.set_default_timeout(15_000)
    try:
        yield await context.new_page()
    finally:
        await context.close()


@pytest.fixture(scope="module")
async def desk(browser: Browser) -> AsyncIterator[Page]:
    """The editor's browser tab (one for the module: the sign-in cookie carries over)."""
    async with desktop_tab(browser) as page:
        yield page


@pytest.fixture(scope="module")
async def partner(browser: Browser) -> AsyncIterator[Page]:
    """A partner city's browser tab."""
    async with desktop_tab(browser) as page:
        yield page


@pytest.fixture(scope="module")
async def phone(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="en-GB"
    )
    context.set_default_timeout(15_000)
    yield context
    await context.close()


class Screenshots:
    """Each page of the story as a PNG. They go to docs/screenshots (shown in the README) when
    ``UPDATE_SCREENSHOTS=1`` (``make screenshots``) or when one is missing; otherwise to a
    temporary folder, so that a test run leaves the working tree as it was."""

    def __init__(self, scratch: Path) -> None:
        self.update = os.environ.get("UPDATE_SCREENSHOTS") == "1"
        self.scratch = scratch
        self.taken: list[Path] = []

    async def take(self, page: Page, name: str) -> Path:
        final = SCREENSHOTS / f"{name}.png"
        path = final if self.update or not final.exists() else self.scratch / final.name
        path.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(path), animations="disabled", caret="hide")
        self.taken.append(path)
        return path


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Screenshots:
    return Screenshots(tmp_path_factory.mktemp("screenshots"))
