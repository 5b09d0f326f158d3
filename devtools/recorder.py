"""Record the raw AMI byte stream of the sandbox, exactly as it arrives on the wire.

The recordings under tests/fixtures/ami/ are made with this (`hotline_pbx.py sandbox record-ami`)
and replayed by the unit tests and the parser benchmark. It logs in with the same user and event
filter as the controller, so a recording shows what the controller really receives.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path


class AmiRecorder:
    def __init__(self, host: str, port: int, username: str, secret: str, out: Path) -> None:
        self.host, self.port, self.username, self.secret, self.out = host, port, username, secret, out
        self.bytes_recorded = 0
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._logged_in = asyncio.Event()

    async def start(self) -> None:
        reader, self._writer = await asyncio.open_connection(self.host, self.port)
        login = (f"Action: Login\r\nActionID: rec-login\r\nUsername: {self.username}\r\n"
                 f"Secret: {self.secret}\r\nEvents: on\r\n\r\n").encode()
        self._writer.write(login)
        await self._writer.drain()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.create_task(self._pump(reader), name="ami-recorder")
        await asyncio.wait_for(self._logged_in.wait(), 10)

    async def _pump(self, reader: asyncio.StreamReader) -> None:
        with self.out.open("wb") as sink:
            seen = b""
            while data := await reader.read(65536):
                sink.write(data)
                self.bytes_recorded += len(data)
                if not self._logged_in.is_set():
                    seen += data
                    if b"Authentication accepted" in seen:
                        self._logged_in.set()
                    elif b"Authentication failed" in seen:
                        raise RuntimeError("AMI recorder: authentication failed")

    async def stop(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(OSError):
                self._writer.write(b"Action: Logoff\r\nActionID: rec-logoff\r\n\r\n")
                await self._writer.drain()
            await asyncio.sleep(0.2)
            self._writer.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 2)
