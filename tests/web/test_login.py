"""Logging in to the pages, as the people at the hotline and someone guessing would meet it, over
real HTTP against the controller's app (a real engine, the store in SQLite):

- an agent logs in and the session cookie is HttpOnly, SameSite=Strict, Secure; the API then
  knows them as that agent, with an agent's rights only (the supervisors' routes answer 403);
- a state-changing request with the session but without its CSRF token is refused, and so is a
  login form posted without the form's own token; a request from another origin is refused;
- the fifth wrong password within a minute is throttled (429), even when it is the right one,
  and a minute later the account may try again; one address trying many accounts is throttled;
- unknown accounts and wrong passwords answer alike; a disabled account cannot log in and a
  disabled account's live session ends;
- a session ends after the idle timeout and at logout; every login, failure and logout is in
  the audit; admins manage accounts, supervisors may not; the stored hash is argon2id.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from sqlalchemy import select

from tests.web.pages_site import PASSWORD, Site, client, site  # noqa: F401  (site: the fixture)
from tickets.schema import users as users_table
from web.login import SESSION_COOKIE

async def login(http: aiohttp.ClientSession, site: Site, name: str, password: str,
                with_csrf: bool = True) -> aiohttp.ClientResponse:
    async with http.get(site.url("/login")) as page:
        form_token = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert form_token is not None
    data = {"name": name, "password": password, **({"csrf": form_token.group(1)} if with_csrf else {})}
    async with http.post(site.url("/login"), data=data, allow_redirects=False) as answer:
        await answer.read()
        return answer


async def csrf_of(http: aiohttp.ClientSession, site: Site) -> str:
    async with http.get(site.url("/api/session")) as got:
        assert got.status == 200
        return str((await got.json())["csrf"])


async def test_an_agent_logs_in_with_a_guarded_cookie_and_has_an_agents_rights_only(site: Site) -> None:
    async with client(site) as http:
        answer = await login(http, site, "agent1001", PASSWORD)
        assert (answer.status, answer.headers["Location"]) == (303, "/")
        cookie = answer.cookies[SESSION_COOKIE]
        assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Strict"
        async with http.get(site.url("/api/session")) as got:
            me = await got.json()
        assert (me["name"], me["role"]) == ("agent1001", "agent") and len(me["csrf"]) > 20
        async with http.get(site.url("/api/agents")) as got:
            assert got.status == 200
        async with http.get(site.url("/api/calls")) as got:  # the hall's live calls: supervisors only
            assert (got.status, (await got.json())["error"]) == (403, "forbidden")
        async with http.get(site.url("/api/users")) as got:
            assert got.status == 403
        async with http.get(site.url("/")) as home:
            assert "坐席工作台" in await home.text() and "值班长控制台" not in await home.text()


async def test_without_its_csrf_token_a_change_is_refused_and_nothing_changes(site: Site) -> None:
    async with client(site) as http:
        await login(http, site, "agent1001", PASSWORD)
        async with http.post(site.url("/api/agents/agent1001/login"), json={}) as got:
            assert (got.status, (await got.json())["error"]) == (403, "csrf-failed")
        async with http.post(site.url("/api/agents/agent1001/login"), json={},
                             headers={"X-CSRF-Token": "guessed"}) as got:
            assert got.status == 403
        async with http.get(site.url("/api/agents")) as got:
            assert {a["agent_id"]: a["state"] for a in await got.json()}["agent1001"] == "logged_out"
        token = await csrf_of(http, site)
        async with http.post(site.url("/api/agents/agent1001/login"), json={},
                             headers={"X-CSRF-Token": token, "Origin": "http://evil.example"}) as got:
            assert (got.status, (await got.json())["error"]) == (403, "csrf-failed")  # another site's page
        async with http.post(site.url("/api/agents/agent1001/login"), json={}, headers={"X-CSRF-Token": token}) as got:
            assert got.status == 200
    async with client(site) as http:  # the login form itself, posted without its token (a forged login)
        answer = await login(http, site, "agent1001", PASSWORD, with_csrf=False)
        assert answer.status == 403 and SESSION_COOKIE not in answer.cookies


async def test_the_fifth_wrong_password_in_a_minute_is_throttled_and_a_minute_later_it_may_try(site: Site) -> None:
    async with client(site) as http:
        for _ in range(4):
            assert (await login(http, site, "zhang.wei", "wrong-password")).status == 401
        site.clock[0] += 30
        throttled = await login(http, site, "zhang.wei", PASSWORD)  # the fifth try: right, but not even checked
        assert throttled.status == 429 and throttled.headers["Retry-After"] == "60"
        site.clock[0] += 31  # a minute after the first failures
        assert (await login(http, site, "zhang.wei", PASSWORD)).status == 303
    outcomes = [e.outcome for e in reversed(await site.store.audit_log())]
    assert outcomes == ["wrong-password"] * 4 + ["throttled", "login"]


async def test_one_address_trying_many_accounts_is_throttled_too(site: Site) -> None:
    async with client(site) as http:
        for n in range(site.throttle.per_address):
            assert (await login(http, site, f"guess{n}", "wrong-password")).status == 401
        assert (await login(http, site, "agent1001", PASSWORD)).status == 429


async def test_an_unknown_account_and_a_wrong_password_answer_alike(site: Site) -> None:
    async with client(site) as http:
        unknown = await login(http, site, "nobody", PASSWORD)
        wrong = await login(http, site, "agent1001", "wrong-password")
    assert (unknown.status, unknown.headers["X-Error"]) == (wrong.status, wrong.headers["X-Error"]) == (401, "login-failed")
    assert [e.outcome for e in await site.store.audit_log()] == ["wrong-password", "unknown-user"]


async def test_a_disabled_account_cannot_log_in_and_its_open_session_ends(site: Site) -> None:
    async with client(site) as http:
        await login(http, site, "agent1001", PASSWORD)
        await site.store.set_disabled("agent1001", True)
        async with http.get(site.url("/api/session")) as got:
            assert got.status == 401
        assert (await login(http, site, "agent1001", PASSWORD)).status == 403


async def test_a_session_ends_when_idle_and_at_logout_and_the_audit_says_so(site: Site) -> None:
    async with client(site) as http:
        await login(http, site, "agent1001", PASSWORD)
        site.clock[0] += 1799
        async with http.get(site.url("/api/session")) as got:
            assert got.status == 200  # used within the idle timeout: it goes on
        site.clock[0] += 1799
        async with http.get(site.url("/api/session")) as got:
            assert got.status == 200
        site.clock[0] += 1800
        async with http.get(site.url("/api/session")) as got:
            assert got.status == 401  # half an hour without a request
        await login(http, site, "agent1001", PASSWORD)
        token = await csrf_of(http, site)
        async with http.post(site.url("/logout"), data={"csrf": token}, allow_redirects=False) as out:
            assert (out.status, out.headers["Location"]) == (303, "/login")
        async with http.get(site.url("/api/session")) as got:
            assert got.status == 401
    outcomes = [e.outcome for e in reversed(await site.store.audit_log())]
    assert outcomes == ["login", "expired", "login", "logout"]


async def test_admins_manage_accounts_and_supervisors_may_not(site: Site) -> None:
    async with client(site) as boss, client(site) as admin:
        await login(boss, site, "zhang.wei", PASSWORD)
        async with boss.post(site.url("/api/users"), json={"name": "x"},
                             headers={"X-CSRF-Token": await csrf_of(boss, site)}) as got:
            assert got.status == 403
        await login(admin, site, "root", PASSWORD)
        csrf = {"X-CSRF-Token": await csrf_of(admin, site)}
        new = {"name": "agent1002", "role": "agent", "display": "李娜", "password": "another-long-one"}
        async with admin.post(site.url("/api/users"), json=new, headers=csrf) as got:
            assert got.status == 201 and "another-long-one" not in await got.text() and "argon2" not in await got.text()
        cases: list[tuple[dict[str, Any], int, str]] = [
            (new, 409, "user-exists"), ({**new, "name": "agent1003", "role": "king"}, 400, "bad-account"),
            ({**new, "name": "agent1003", "password": "short"}, 400, "weak-password"),
            ({**new, "name": "坐席"}, 400, "validation-failed"), ({**new, "extra": 1}, 400, "validation-failed")]
        for body, status, code in cases:
            async with admin.post(site.url("/api/users"), json=body, headers=csrf) as got:
                assert (got.status, (await got.json())["error"]) == (status, code), body
        async with admin.post(site.url("/api/users/root/disable"), headers=csrf) as got:
            assert got.status == 409  # not themselves
        async with admin.post(site.url("/api/users/ghost/disable"), headers=csrf) as got:
            assert (got.status, (await got.json())["error"]) == (404, "unknown-user")
        async with admin.post(site.url("/admin"), data={"action": "add", "name": "forged", "role": "admin",
                                                        "password": "long-enough-1"}, allow_redirects=False) as got:
            assert (got.status, (await got.json())["error"]) == (403, "csrf-failed")  # the page's form without its token
        async with admin.get(site.url("/api/users")) as got:
            listed = {u["name"]: u for u in await got.json()}
        assert set(listed) == {"agent1001", "agent1002", "zhang.wei", "qa.zhou", "root"} and "password_hash" not in listed["root"]
    async with site.store.engine.connect() as conn:
        stored = (await conn.execute(select(users_table.c.password_hash)
                                     .where(users_table.c.name == "agent1002"))).scalar_one()
    assert stored.startswith("$argon2id$") and "another-long-one" not in stored
