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
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.conftest import started_infra
from tests.integration.conftest import System, started_system

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 390, "height": 844}
AXE = ROOT / "tests" / "e2e" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
#: The rules axe checks: WCAG 2.0, 2.1 and 2.2, levels A and AA.
WCAG = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
#: The impacts that fail a test (axe's scale: minor, moderate, serious, critical).
SEVERE = ("serious", "critical")
#: Each audit's line, for the summary at the end of the session.
AUDITS: list[str] = []
RUN_AXE = """async tags => {
  const found = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return {passed: found.passes.length, incomplete: found.incomplete.map(v => v.id),
    unsure: found.incomplete.flatMap(v => v.nodes.slice(0, 3).map(
      n => `${v.id}: ${n.target.join(" ")}: ${(n.any[0] || n.all[0] || {}).message || ""}`)),
    violations: found.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary}))}))};
}"""


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


async def with_axe(context: BrowserContext) -> BrowserContext:
    """``context``, each of its pages loading axe-core (when ``make axe`` installed it) before
    anything else, for :func:`audit`."""
    if AXE.is_file():
        await context.add_init_script(path=str(AXE))
    context.set_default_timeout(15_000)
    return context


async def audit(page: Page, name: str, *, summed: bool = True) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.x A and AA violations on ``page`` as it is now, one line printed for
    it ("axe <name> <lang>: N violations (serious: …, critical: …) ids…, R rules passed") and
    each serious or critical one's elements under it; ``summed``: in the session's summary."""
    found: dict[str, Any] = await page.evaluate(RUN_AXE, list(WCAG))
    violations: list[dict[str, Any]] = found["violations"]
    lang = await page.evaluate("document.documentElement.lang") or "?"
    count = {impact: sum(v["impact"] == impact for v in violations) for impact in SEVERE}
    ids = " ".join(f"{v['id']}[{v['impact']}]" for v in violations)
    line = (
        f"axe {name} {lang}: {len(violations)} violations (serious: {count['serious']}, "
        f"critical: {count['critical']}){' ' + ids if ids else ''}; "
        f"{found['passed']} rules passed"
        + (f", to check by hand: {' '.join(found['incomplete'])}" if found["incomplete"] else "")
    )
    if summed:
        AUDITS.append(line)
    print(line)
    for unsure in found["unsure"]:
        print(f"    to check by hand: {unsure}")
    for v in violations:
        if v["impact"] in SEVERE:
            for node in v["nodes"][:5]:
                print(f"    {v['id']}: {node['target']}: {node['summary']}")
    return violations


def severe(violations: list[dict[str, Any]]) -> list[str]:
    """The serious and critical ones, each as "id: help (elements)" for an assertion message."""
    return [
        f"{v['id']}: {v['help']} ({', '.join(n['target'] for n in v['nodes'][:5])})"
        for v in violations
        if v["impact"] in SEVERE
    ]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """axe-core's line for every page audited, at the end of the run."""
    if AUDITS:
        terminalreporter.section("axe-core")
        for line in AUDITS:
            terminalreporter.write_line(line)


@asynccontextmanager
async def desktop_tab(browser: Browser, locale: str = "en-GB") -> AsyncIterator[Page]:
    """A tab in a browser context of its own (its own cookies), asking for pages in ``locale``
    (``Accept-Language``), with axe-core loaded (:func:`audit`)."""
    context = await browser.new_context(viewport=DESKTOP, locale=locale)
    try:
        await with_axe(context)
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
    await with_axe(context)
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
