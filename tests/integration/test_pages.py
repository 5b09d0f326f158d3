"""The pages against the real controller and real sandbox calls (issue 18), in headless
Chromium:

- a supervisor logs in, and the hall wallboard shows a baresip citizen waiting at their desk,
  then answered by agent1001's baresip, without the page ever reloading;
- agent1001 logs in to the desk, takes the seat and goes ready from the page; when a citizen
  with an earlier open order calls, the screen pops with that order; the agent fills and saves a
  work order linked to the call, then brings 110 (a baresip phone behind the sandbox's trunk)
  into the call from the page.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from devtools import sandbox
from devtools.phones import PhoneBank, PhoneSpec
from hotline_config import Config
from tests.web.browser import browser  # noqa: F401  (the fixture)
from tickets.orders import NewOrder
from tickets.users import UserStore
from web.login import hash_password

from .conftest import running, wait_until, with_http

pytestmark = pytest.mark.integration
PASSWORD = "duty-supervisor-1"


@pytest.fixture(autouse=True)
def _carrier_directory(sandbox_paths: sandbox.SandboxPaths) -> Iterator[None]:
    """The test's trunk party (110) is gone with it."""
    yield
    sandbox.cli(sandbox_paths, "database deltree sandbox-carrier")


async def _log_in(page: Any, url: str, name: str) -> None:
    await page.goto(f"{url}/login")
    await page.get_by_label("用户名").fill(name)
    await page.get_by_label("密码").fill(PASSWORD)
    async with page.expect_navigation():
        await page.get_by_role("button", name="登录").click()


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
        await _log_in(page, url, "zhang.wei")
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


async def test_an_agent_takes_a_call_on_the_desk_page_saves_its_order_and_brings_in_110(
        acd_config: Config, phones: PhoneBank, sip_password: str, tmp_path: Path, browser: Any) -> None:
    config, port, _ = with_http(acd_config, tmp_path)
    url = f"http://127.0.0.1:{port}"
    number = "13800138032"
    async with running(config) as ctl:
        await UserStore(ctl.store.engine).add("agent1001", "agent", hash_password(PASSWORD), "王芳", time.time())
        earlier = await ctl.orders.create(NewOrder(number, "", "complaint", "", "", "楼下夜间施工噪音"), by="agent1002",
                                          at=datetime.now(timezone.utc))
        await phones.add(PhoneSpec("agent1001", "agent1001", password=sip_password, auto_answer=True))
        police = await phones.add(PhoneSpec("trunk-party", "110", auto_answer=True))
        sandbox.carrier_put(sandbox.SandboxPaths(), "110", police.spec.sip_port)  # the trunk reaches 110 there
        citizen = await phones.add(PhoneSpec("citizen", number, "郑十一"))
        await ctl.engine.do_not_call(number)

        page = await browser.new_page(viewport={"width": 1366, "height": 768})  # an agent's screen
        await _log_in(page, url, "agent1001")
        await page.goto(f"{url}/desk")
        await page.locator("#state[data-state=logged_out]").wait_for()
        await page.get_by_role("button", name="签入").click()
        await page.locator("#state[data-state=ready], #state[data-state=paused], #state[data-state=wrap_up]") \
            .wait_for()
        await page.keyboard.press("F2")  # ready, by the shortcut
        await page.locator("#state[data-state=ready]").wait_for()
        assert ctl.engine.acd.agents["agent1001"].state.value == "ready"

        await citizen.dial("12345")
        await page.locator("#state[data-state=on_call]").wait_for(timeout=40_000)
        await page.locator("#earlier", has_text=earlier).wait_for(timeout=10_000)  # the screen pop
        assert await page.locator("#number").inner_text() == "*******8032"  # masked on screen
        [call] = ctl.engine.snapshot()
        await page.get_by_label("诉求类型").select_option("consultation")
        await page.get_by_label("诉求内容").fill("询问噪音投诉的办理进度")
        await page.keyboard.press("Control+s")
        await page.locator("#note", has_text="已保存").wait_for(timeout=10_000)
        saved = (await page.locator("#note").inner_text()).split()[1]
        order = await ctl.orders.get(saved)
        assert order.category == "consultation" and order.state.value == "answered_directly"
        assert call.linkedid in [order.linkedid, *(c.linkedid for c in order.calls)] and order.caller_number == number

        await page.locator("#threeway button[data-target='110']").click()
        await wait_until(lambda: (ctl.engine.handover_of("agent1001") or {}).get("stage") == "joined", timeout=30,
                         what="110 joined the call")
        await page.locator("#threeway[data-stage=joined]").wait_for(timeout=10_000)  # the page shows the progress
        await citizen.hangup()
        await wait_until(lambda: ctl.engine.snapshot() == (), timeout=20, what="the call to end")
