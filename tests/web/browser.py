"""A real headless browser for the pages' tests: Debian's chromium, driven by Playwright for
Python with the system browser's path (Playwright downloads no browser of its own)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

import pytest

CHROMIUM = os.environ.get("HOTLINE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"no chromium at {CHROMIUM}: scripts/install.sh installs Debian's")
        pytest.skip("Debian's chromium is not installed (scripts/install.sh)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                    args=["--no-sandbox"] if os.geteuid() == 0 else [])
        try:
            yield launched
        finally:
            await launched.close()
