"""The controller dies (SIGKILL) while a caller waits: Asterisk's wait loop sees the heartbeat
go stale and hands the caller to the desk's static app_queue, where an agent answers. The
controller comes back, resynchronises, and routes the next call itself again."""

from __future__ import annotations

from devtools import sandbox
from devtools.phones import PhoneSpec

from .conftest import agent, wait_until
from .serve import Served


async def test_given_the_controller_is_killed_then_waiting_callers_reach_the_fallback_queue_and_it_takes_over_again(
        tmp_path, phones, sandbox_paths, sip_password) -> None:
    served = Served(tmp_path, sandbox_paths)
    a1 = await agent(phones, 1001, sip_password)  # a static member of hotline-general
    await served.start()
    try:
        assert (await served.api("GET", "/api/calls", headers={}))["error"] == "unauthorized"  # guarded
        citizen = await phones.add(PhoneSpec("citizen", "13866667777", "周九"))
        await served.api("POST", "/api/callbacks/do-not-call", {"number": "13866667777", "note": "test"})
        await served.api("POST", "/api/agents/agent1001/login")  # logged in, not ready (paused)
        await citizen.dial("12345")  # nobody is ready in the controller: the caller waits
        await wait_until(lambda: "hotline-wait" in sandbox.cli(sandbox_paths, "core show channels"),
                         timeout=10, what="the caller waiting in [hotline-wait]")
        await served.kill()
        # heartbeat stale after 3 s: the caller falls back to app_queue and agent1001 answers
        await a1.wait_event("CALL_ESTABLISHED", timeout=20)
        assert "Queue" in sandbox.cli(sandbox_paths, "core show channels")

        await served.start()  # back: resync, then route again
        await wait_until_state(served, "agent1001", "on_call")  # app_queue's call, learnt from AMI
        await citizen.hangup()
        await a1.wait_event("CALL_CLOSED", timeout=10)
        await wait_until_state(served, "agent1001", "ready")  # after the desk's wrap-up
        second = await phones.add(PhoneSpec("citizen2", "13877778888", "吴十"))
        await second.dial("12345")
        await a1.wait_event("CALL_ESTABLISHED", timeout=20)
        # both answered today: the first by the fallback queue, the second routed by the controller
        await wait_until_answered(served, "general", 2, fallback=1)
        await second.hangup()
    finally:
        await served.stop()


async def wait_until_state(served: Served, agent_id: str, state: str, timeout: float = 15.0) -> None:
    seen: dict[str, tuple[str, str]] = {}

    async def check() -> bool:
        nonlocal seen
        seen = await served.agents()
        return seen[agent_id][0] == state

    await poll(check, timeout, lambda: f"{agent_id} {state} (now {seen.get(agent_id)})")


async def wait_until_answered(served: Served, desk: str, answered: int, fallback: int = 0,
                              timeout: float = 10.0) -> None:
    seen: dict[str, object] = {}

    async def check() -> bool:
        nonlocal seen
        seen = (await served.api("GET", "/api/desks"))[desk]
        return (seen["answered"], seen["fallback_answered"]) == (answered, fallback)

    await poll(check, timeout, lambda: f"{answered} answered ({fallback} by the fallback queue) on desk {desk}, "
               f"now {seen.get('answered')} ({seen.get('fallback_answered')})")


async def poll(check, timeout: float, what) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what()}")
        await asyncio.sleep(0.1)
