"""Screenshots of the three pages while the demo runs (`hotline_pbx.py demo --screenshots DIR`),
for the README: the hall wallboard and the supervisor console at 1920×1080, the agent desk at
1366×768 with a call popped. Headless Debian chromium driven by Playwright, as the tests do."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path

CHROMIUM = os.environ.get("HOTLINE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
WALL, AGENT_SCREEN = {"width": 1920, "height": 1080}, {"width": 1366, "height": 768}


async def _logged_in(browser: object, url: str, name: str, password: str, viewport: dict[str, int]) -> object:
    page = await browser.new_page(viewport=viewport)  # type: ignore[attr-defined]
    await page.goto(f"{url}/login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", password)
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    return page


async def take(url: str, out: Path, supervisor: tuple[str, str], agent: tuple[str, str],
               busy: Callable[[], bool], say: Callable[[str], None]) -> list[Path]:
    """When `busy()` says calls are flowing: wallboard.png, console.png, desk.png in `out`."""
    from playwright.async_api import async_playwright

    out.mkdir(parents=True, exist_ok=True)
    taken: list[Path] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=["--no-sandbox"] if os.geteuid() == 0 else [])
        try:
            desk = await _logged_in(browser, url, *agent, AGENT_SCREEN)
            await desk.goto(f"{url}/desk")  # type: ignore[attr-defined]
            boss = await _logged_in(browser, url, *supervisor, WALL)
            await boss.goto(f"{url}/wallboard")  # type: ignore[attr-defined]
            while not busy():
                await asyncio.sleep(0.2)
            await asyncio.sleep(2.0)  # the figures of a few calls on the board
            for name, page in (("wallboard", boss), ("console", boss)):
                if name == "console":
                    await page.goto(f"{url}/console")  # type: ignore[attr-defined]
                    await page.wait_for_selector("#agents tr[data-agent]")  # type: ignore[attr-defined]
                path = out / f"{name}.png"
                await page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
                taken.append(path)
            await desk.wait_for_selector("#caller", timeout=60_000)  # type: ignore[attr-defined]
            path = out / "desk.png"
            await desk.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
            taken.append(path)
        finally:
            await browser.close()
    for path in taken:
        say(f"demo: screenshot {path}")
    return taken
