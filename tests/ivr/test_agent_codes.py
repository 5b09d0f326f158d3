"""Feature codes through the real FastAGI server and a real engine, Asterisk played by a client
that answers like Asterisk (the sandbox test dials them from a baresip phone)."""

from __future__ import annotations

import asyncio

from acd.desks import AcdConfig, AgentConfig, Desk
from acd.engine import Engine
from ivr.agent_codes import make_agent_codes
from pbx.fastagi import FastAgiServer

CONFIG = AcdConfig(desks=(Desk("general", "综合受理", "general"),),
                   agents=(AgentConfig("agent1001", "王芳", "PJSIP/agent1001", "1001", "4321", {"general": 3}),))


async def dial(port: int, code: str, pin: str) -> list[str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"agi_network: yes\nagi_network_script: agent?code={code[:3]}&seat={code[3:]}\n"
                 "agi_channel: PJSIP/agent1001-00000001\nagi_uniqueid: u1\n\n".encode())
    said = []
    while line := await reader.readline():
        command = line.decode().strip()
        said.append(command)
        writer.write(f"200 result={pin}\n".encode() if command.startswith("GET DATA") else b"200 result=0\n")
    writer.close()
    return [c for c in said if c.startswith("STREAM FILE")]


async def test_login_ready_and_a_wrong_pin_through_feature_codes() -> None:
    engine = Engine({}, acd=CONFIG)
    runner = asyncio.create_task(engine.run())
    server = FastAgiServer("127.0.0.1", 0)
    server.route("agent", make_agent_codes(engine.request, CONFIG))
    await server.start()
    try:
        assert await dial(server.bound_port, "*211001", "4321") == ['STREAM FILE hotline/agent-ok ""']
        assert await dial(server.bound_port, "*221001", "0000") == ['STREAM FILE hotline/agent-denied ""']
        assert engine.agents()[0].state == "paused"
        assert await dial(server.bound_port, "*221001", "4321") == ['STREAM FILE hotline/agent-ok ""']
        assert engine.agents()[0].state == "ready"
        assert await dial(server.bound_port, "*219999", "4321") == ['STREAM FILE hotline/agent-invalid ""']
        assert await dial(server.bound_port, "*211001", "4321") == ['STREAM FILE hotline/agent-invalid ""']  # already in
        assert engine.agents()[0].state == "ready"
    finally:
        await server.close()
        engine.stop()
        await runner
