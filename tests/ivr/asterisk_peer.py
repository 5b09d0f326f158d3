"""A FastAGI client that answers the way Asterisk does, for flow tests without the sandbox (the
sandbox tests press real keys from baresip phones)."""

from __future__ import annotations

import asyncio


async def converse(port: int, script: str, *, caller: str | None = None, keys: list[str] | None = None,
                   greeting_seconds: float = 0.0) -> list[str]:
    """Run one session of `script` and return the commands the flow sent. GET DATA is answered
    with the next key ("" or none left = no input: `200 result= (timeout)`); STREAM FILE takes
    `greeting_seconds`; the channel's uniqueid is pbx-1.1."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    headers = f"agi_network: yes\nagi_network_script: {script}\n"
    if caller is not None:
        headers += f"agi_callerid: {caller}\n"
    writer.write(f"{headers}agi_channel: PJSIP/carrier-00000001\nagi_uniqueid: pbx-1.1\n\n".encode())
    said, pending = [], list(keys or [])
    while line := await reader.readline():
        command = line.decode().strip()
        said.append(command)
        if command.startswith("GET DATA"):
            key = pending.pop(0) if pending else ""
            reply = f"200 result={key}" if key else "200 result= (timeout)"
        elif command.startswith("GET FULL VARIABLE"):
            reply = "200 result=1 (pbx-1.1)"
        else:
            if command.startswith("STREAM FILE"):
                await asyncio.sleep(greeting_seconds)
            reply = "200 result=0"
        writer.write(f"{reply}\n".encode())
    writer.close()
    return said
