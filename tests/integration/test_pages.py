"""The pages against the real controller and a real sandbox call (issue 18), in headless
Chromium: a supervisor logs in, and the hall wallboard shows a baresip citizen waiting at their
desk, then answered by agent1001's baresip, without the page ever reloading."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from devtools.phones import PhoneBank, PhoneSpec
from hotline_config import Config
from tests.web.browser import browser  # noqa: F401  (the fixture)
from tickets.users import UserStore
from web.login import hash_password

from .conftest import running, wait_until, with_http

pytestmark = pytest.mark.integration
PASSWORD = "duty-supervisor-1"


async def test_the_wallboard_shows_a_sandbox_call_waiting_then_answered_without_a_reload(
        acd_config: Config, phones: PhoneBank, sip_password: str, tmp_path: Path, browser: Any) -> None:
    config, port, _ = with_http(acd_config, tmp_path)
    url = f"http://127.0.0.1:{port}"
    async with running(config) as ctl:
        await UserStore(ctl.store.engine).add("zhang.wei", "supervisor", hash_password(PASSWORD), "张伟", time.time())
        await phones.add(PhoneSpec("agent1001", "agent1001", password=sip_password, auto_answer=True))
        citizen = await phones.add(PhoneSpec("citizen", "13800138031", "吴十"))
        await ctl.engine.do_not_call("13800138031")
        await ctl.engine.request("login", "agent1001")  # logged in, not ready: the citizen will wait

        page = await browser.new_page()
        await page.goto(f"{url}/login")
        await page.get_by_label("用户名").fill("zhang.wei")
        await page.get_by_label("密码").fill(PASSWORD)
        async with page.expect_navigation():
            await page.get_by_role("button", name="登录").click()
        await page.goto(f"{url}/wallboard")
        await page.wait_for_selector("#desks tr[data-desk=all]")
        await page.evaluate("window.notReloaded = true")

        await citizen.dial("12345")
        await wait_until(lambda: bool(ctl.engine.acd.queue), timeout=30, what="the citizen queued")
        [queued] = ctl.engine.acd.queue.values()
        desk = queued.call.desk
        desk_row = page.locator(f"#desks tr[data-desk={desk}]")
        await desk_row.locator("td.waiting", has_text="1").wait_for(timeout=15_000)  # waiting, live
        label = {d.name: d.label for d in config.acd.desks}[desk]
        assert await desk_row.locator("td.name").inner_text() == label

        await ctl.engine.request("ready", "agent1001")  # agent1001's phone answers by itself
        await desk_row.locator("td.waiting", has_text="0").wait_for(timeout=15_000)
        await desk_row.locator("td.answer-rate", has_text="100%").wait_for(timeout=15_000)  # answered, live
        agents = await desk_row.locator("td.agents").inner_text()
        assert agents.split(" / ")[1] == "1", agents  # one agent on a call
        assert await page.evaluate("window.notReloaded") is True
        assert not await page.locator("#offline").is_visible()

        await citizen.hangup()
        await wait_until(lambda: ctl.engine.snapshot() == (), what="the call to end")
        await page.locator("#hourly").and_(page.locator("[data-today='1']")).wait_for(timeout=15_000)
        assert await page.evaluate("window.notReloaded") is True
