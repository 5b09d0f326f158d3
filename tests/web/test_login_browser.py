"""The login page in a real browser (headless Chromium), as the people at the hotline meet it:
the form in Chinese; a supervisor logs in and out; the session cookie is out of the page's
scripts' reach; a forged form without its CSRF token is refused; the fifth wrong password in a
minute is throttled; an agent's browser asking for a supervisor's data is refused by the server,
not only by what the page shows."""

from __future__ import annotations

from typing import Any

from tests.web.browser import browser  # noqa: F401  (the fixture)
from tests.web.pages_site import PASSWORD, Site, site  # noqa: F401


async def _citizen_answered_by_agent1001(engine: Any) -> None:
    """A citizen (13800138077) queues at the general desk and ready agent1001 answers, as the
    engine's inbox gets it from Asterisk."""
    from acd import events as ev
    from tests.acd.test_engine_promises import at

    engine.submit(ev.ChannelCreated(at(1), "C1", "C1", "PJSIP/carrier-C1", 6, "13800138077", "", "12345", "from-trunk"))
    engine.submit(ev.CallQueued(at(1), "C1", "C1", "PJSIP/carrier-C1", "general"))
    await engine.drained()
    engine.submit(ev.ChannelCreated(at(1), "C1-a", "C1", "PJSIP/agent1001-C1", 0, "", "", "s", "from-agents"))
    engine.submit(ev.DialEnded(at(2), "C1", "C1", "PJSIP/agent1001-C1", "ANSWER"))
    await engine.drained()


async def _log_in(page: Any, site: Site, name: str, password: str) -> Any:
    await page.goto(site.url("/login"))
    await page.get_by_label("用户名").fill(name)
    await page.get_by_label("密码").fill(password)
    async with page.expect_navigation() as navigation:
        await page.get_by_role("button", name="登录").click()
    return await navigation.value


async def test_a_supervisor_logs_in_and_out_and_the_cookie_is_out_of_scripts_reach(site: Site, browser: Any) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await _log_in(page, site, "zhang.wei", PASSWORD)
    assert page.url == site.url("/")
    assert await page.get_by_role("link", name="值班长控制台").is_visible()
    assert "hotline_session" not in await page.evaluate("document.cookie")  # HttpOnly
    [cookie] = [c for c in await context.cookies() if c["name"] == "hotline_session"]
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    me = await page.evaluate("fetch('/api/session').then(r => r.json())")
    assert (me["name"], me["role"]) == ("zhang.wei", "supervisor")
    async with page.expect_navigation():
        await page.get_by_role("button", name="退出登录").click()
    assert page.url == site.url("/login")
    assert await page.evaluate("fetch('/api/session').then(r => r.status)") == 401
    await context.close()


async def test_a_forged_login_form_without_its_csrf_token_is_refused(site: Site, browser: Any) -> None:
    page = await browser.new_page()
    await page.goto(site.url("/login"))
    await page.evaluate("document.querySelector('input[name=csrf]').remove()")
    await page.get_by_label("用户名").fill("zhang.wei")
    await page.get_by_label("密码").fill(PASSWORD)
    async with page.expect_navigation() as navigation:
        await page.get_by_role("button", name="登录").click()
    assert (await navigation.value).status == 403
    assert await page.get_by_role("alert").inner_text() == "页面已过期，请重新登录。"
    assert await page.evaluate("fetch('/api/session').then(r => r.status)") == 401


async def test_the_fifth_wrong_password_in_a_minute_is_throttled(site: Site, browser: Any) -> None:
    page = await browser.new_page()
    for _ in range(4):
        assert (await _log_in(page, site, "zhang.wei", "not-the-password")).status == 401
        assert await page.get_by_role("alert").inner_text() == "用户名或密码错误。"
    answer = await _log_in(page, site, "zhang.wei", PASSWORD)
    assert answer.status == 429
    assert await page.get_by_role("alert").inner_text() == "尝试次数过多，请一分钟后再试。"


async def test_an_agents_browser_is_refused_a_supervisors_data_by_the_server(site: Site, browser: Any) -> None:
    page = await browser.new_page()
    await _log_in(page, site, "agent1001", PASSWORD)
    assert not await page.get_by_role("link", name="值班长控制台").count()  # not shown ...
    refused = await page.evaluate("fetch('/api/calls').then(r => r.json().then(b => [r.status, b.error]))")
    assert refused == [403, "forbidden"]  # ... and refused when asked for anyway
    csrf = (await page.evaluate("fetch('/api/session').then(r => r.json())"))["csrf"]
    opted_out = await page.evaluate("""csrf => fetch('/api/callbacks/do-not-call', {method: 'POST',
        headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
        body: JSON.stringify({number: '13800138000'})}).then(r => r.status)""", csrf)
    assert opted_out == 403  # a supervisor's change, with a valid CSRF token: still the wrong role
    another = await page.evaluate("""csrf => fetch('/api/agents/agent1002/login', {method: 'POST',
        headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}, body: '{}'}).then(r => r.status)""", csrf)
    assert another == 403  # another agent's seat


async def test_the_page_is_chinese_first_and_english_on_request(site: Site, browser: Any) -> None:
    page = await browser.new_page(locale="en-US")  # a machine set up in English still shows Chinese
    await page.goto(site.url("/login"))
    assert await page.locator("html").get_attribute("lang") == "zh-CN"
    await page.get_by_role("link", name="English").click()
    assert await page.get_by_role("button", name="Log in").is_visible()
    await page.goto(site.url("/login"))  # the choice is kept
    assert await page.get_by_label("User name").is_visible()


async def test_an_admin_makes_and_disables_an_account_on_the_admin_page(site: Site, browser: Any) -> None:
    admin = await browser.new_page()
    await _log_in(admin, site, "root", PASSWORD)
    await admin.get_by_role("link", name="用户管理").click()
    new = admin.locator("form", has=admin.get_by_role("button", name="添加"))
    await new.get_by_label("用户名").fill("agent1002")
    await new.get_by_label("姓名").fill("李娜")
    await new.get_by_label("角色").select_option("agent")
    await new.get_by_label("密码").fill("li-na-password-1")
    async with admin.expect_navigation():
        await new.get_by_role("button", name="添加").click()
    assert await admin.get_by_role("status").inner_text() == "已保存。"
    row = admin.get_by_role("row", name="agent1002")
    assert "李娜" in await row.inner_text() and "话务员" in await row.inner_text()

    agent = await browser.new_page()
    assert (await _log_in(agent, site, "agent1002", "li-na-password-1")).url == site.url("/")
    async with admin.expect_navigation():
        await row.get_by_role("button", name="停用").click()
    assert "已停用" in await admin.get_by_role("row", name="agent1002").inner_text()
    await agent.reload()
    assert agent.url == site.url("/login")  # the disabled account's session ended
    assert (await _log_in(agent, site, "agent1002", "li-na-password-1")).status == 403


async def test_a_supervisor_is_refused_the_admin_page_by_the_server(site: Site, browser: Any) -> None:
    page = await browser.new_page()
    await _log_in(page, site, "zhang.wei", PASSWORD)
    answer = await page.goto(site.url("/admin"))
    assert answer.status == 403 and await page.get_by_role("alert").inner_text() == "您的角色无权打开此页面。"
    posted = await page.evaluate("""() => fetch('/admin', {method: 'POST', body: new URLSearchParams(
        {action: 'add', name: 'x1', role: 'admin', password: 'long-enough-1'})}).then(r => r.status)""")
    assert posted == 403
    assert [u.name for u in await site.store.all() if u.name == "x1"] == []


async def test_the_console_shows_every_agent_live_and_a_forced_pause_needs_a_reason(site: Site, browser: Any) -> None:
    page = await browser.new_page(viewport={"width": 1920, "height": 1080})
    await _log_in(page, site, "zhang.wei", PASSWORD)
    await page.get_by_role("link", name="值班长控制台").click()
    row = page.locator("#agents tr[data-agent=agent1001]")
    await row.locator("td.state", has_text="未签入").wait_for()
    await site.engine.request("login", "agent1001")  # on the seat's own phone, elsewhere
    await site.engine.request("ready", "agent1001")
    await row.locator("td.state", has_text="空闲").wait_for(timeout=5000)  # live, no reload
    assert (await row.locator("td.for").inner_text()).startswith("0:")  # seconds in the state, not since boot
    await row.get_by_role("button", name="强制小休").click()
    assert await page.get_by_role("alert").inner_text() == "请填写原因"
    assert site.engine.acd.agents["agent1001"].state.value == "ready"  # nothing without a reason
    await row.locator("input.why").fill("临时会议")
    await row.get_by_role("button", name="强制小休").click()
    await row.locator("td.state", has_text="小休").wait_for(timeout=5000)
    agent = site.engine.acd.agents["agent1001"]
    assert agent.state.value == "paused" and "forced: zhang.wei" in agent.reason


async def test_an_agent_cannot_open_the_console_or_the_wallboard(site: Site, browser: Any) -> None:
    page = await browser.new_page()
    await _log_in(page, site, "agent1001", PASSWORD)
    for path in ("/console", "/wallboard", "/admin"):
        answer = await page.goto(site.url(path))
        assert answer.status == 403, path
        assert await page.get_by_role("alert").inner_text() == "您的角色无权打开此页面。"


async def test_the_desk_pops_the_call_and_its_transfer_button_hands_the_citizen_to_another_desk(
        site: Site, browser: Any) -> None:
    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    await _log_in(page, site, "agent1001", PASSWORD)
    await page.goto(site.url("/desk"))
    await page.get_by_role("button", name="签入").click()
    await page.get_by_role("button", name="就绪 (F2)").click()
    await page.locator("#state[data-state=ready]").wait_for()
    engine = site.engine
    await _citizen_answered_by_agent1001(engine)
    await page.locator("#state[data-state=on_call]").wait_for()
    await page.locator("#number", has_text="*******8077").wait_for()
    assert not await page.locator("#transfer button[data-desk=general]").count()  # not to its own desk
    await page.locator("#transfer button[data-desk=market]").click()
    await page.locator("#note", has_text="market").wait_for()
    assert engine.handover_of("agent1001")["target"] == "market"
    width = await page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert width[0] <= width[1]  # fits a 1366-wide agent screen


async def test_the_wallboard_draws_the_hourly_chart_of_today_against_last_week(site: Site, browser: Any) -> None:
    page = await browser.new_page(viewport={"width": 1920, "height": 1080})
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    await _log_in(page, site, "zhang.wei", PASSWORD)
    await page.goto(site.url("/wallboard"))
    await page.locator("#hourly svg").wait_for(timeout=10_000)
    assert await page.locator("#hourly rect.today").count() == 24, messages
    assert await page.locator("#hourly rect.last-week").count() == 24
    width = await page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert width[0] <= width[1]  # fits the wall screen


async def test_the_console_listen_button_rings_the_supervisors_phone_to_spy_on_the_agents_call(
        site: Site, browser: Any) -> None:
    engine = site.engine
    await engine.request("login", "agent1001")
    await engine.request("ready", "agent1001")
    await _citizen_answered_by_agent1001(engine)
    page = await browser.new_page(viewport={"width": 1920, "height": 1080})
    await _log_in(page, site, "zhang.wei", PASSWORD)
    await page.goto(site.url("/console"))
    row = page.locator("#agents tr[data-agent=agent1001]")
    assert not await page.locator("#agents tr[data-agent=agent1002] button[data-mode]").count()  # no call, no spying
    await row.get_by_role("button", name="监听").click()
    await page.locator("#note", has_text="已呼叫您的话机").wait_for(timeout=5000)
    [spy] = site.spies
    assert (spy.device, str(getattr(spy.mode, "value", spy.mode)), spy.target_channel) == (
        "PJSIP/super2001", "listen", "PJSIP/agent1001-C1")
    assert "13800138077" not in await page.content()  # the live call's number is masked
