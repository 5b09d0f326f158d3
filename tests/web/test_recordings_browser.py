"""The recordings page in a real browser (headless Chromium), as a quality inspector and an
agent meet it: the inspector finds both agents' calls of the day and plays one — the browser
buffers it with range requests, each in the access log under the inspector's name; an agent's
page lists only their own calls, and their browser asking for another agent's audio is refused
by the server; the inspector cannot open the supervisor's console."""

from __future__ import annotations

from typing import Any

from tests.waiting import wait_until
from tests.web.browser import browser  # noqa: F401  (the fixture)
from tests.web.pages_site import PASSWORD, Site, site  # noqa: F401
from tests.web.recorded import recorded


async def _log_in(page: Any, site: Site, name: str) -> None:
    await page.goto(site.url("/login"))
    await page.get_by_label("用户名").fill(name)
    await page.get_by_label("密码").fill(PASSWORD)
    async with page.expect_navigation():
        await page.get_by_role("button", name="登录").click()


async def _seed(site: Site) -> None:
    await recorded(site.records, site.recordings, site.recordings_config, "call-of-1001", "agent1001", seconds=4.0)
    await recorded(site.records, site.recordings, site.recordings_config, "call-of-1002", "agent1002", seconds=6.0)


async def test_an_inspector_finds_the_days_calls_and_plays_one_logged_range_by_range(site: Site, browser: Any) -> None:
    await _seed(site)
    page = await browser.new_page()
    await _log_in(page, site, "qa.zhou")
    assert await page.get_by_role("link", name="通话录音").is_visible()
    await page.get_by_role("link", name="通话录音").click()
    await page.wait_for_selector("tr[data-linkedid='call-of-1002']")
    rows = await page.eval_on_selector_all("tr[data-linkedid]", "rows => rows.map(r => r.dataset.linkedid)")
    assert sorted(rows) == ["call-of-1001", "call-of-1002"]
    row = page.locator("tr[data-linkedid='call-of-1002']")
    assert "agent1002" in await row.inner_text() and "6 s" in await row.inner_text()
    await row.get_by_role("button", name="播放").click()
    await wait_until(lambda: page.evaluate("document.getElementById('player').readyState >= 1"),
                     what="the player to load the recording's metadata")
    duration = await page.evaluate("document.getElementById('player').duration")
    assert abs(duration - 6.0) <= 0.5, duration  # the browser decoded the Opus file
    entries: list[Any] = []

    async def logged() -> bool:
        entries[:] = await site.recordings.accesses(linkedid="call-of-1002")
        return any(e.what == "audio" for e in entries)

    await wait_until(logged, what="the play in the access log")
    plays = [e for e in entries if e.what == "audio"]
    assert {e.name for e in plays} == {"qa.zhou"} and {e.role for e in plays} == {"inspector"}
    assert all(e.byte_range.startswith("bytes=") and e.status == 206 for e in plays), plays  # the player asks for ranges
    assert (await page.goto(site.url("/console"))).status == 403


async def test_an_agents_page_lists_only_their_calls_and_the_server_refuses_the_others(site: Site, browser: Any) -> None:
    await _seed(site)
    page = await browser.new_page()
    await _log_in(page, site, "agent1001")
    await page.goto(site.url("/recordings"))
    await page.wait_for_selector("tr[data-linkedid='call-of-1001']")
    rows = await page.eval_on_selector_all("tr[data-linkedid]", "rows => rows.map(r => r.dataset.linkedid)")
    assert rows == ["call-of-1001"]
    assert await page.locator("input[name=agent]").count() == 0  # no agent filter for an agent
    status = await page.evaluate("fetch('/api/recordings/call-of-1002/audio').then(r => r.status)")
    assert status == 403
    [refused] = [e for e in await site.recordings.accesses(linkedid="call-of-1002")]
    assert (refused.name, refused.status) == ("agent1001", 403)
