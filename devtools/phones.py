"""Real SIP phones for tests and the demo: Debian's baresip, one process per phone.

Each phone gets its own config folder, SIP port and `ctrl_tcp` port on loopback. The controller
speaks baresip's ctrl_tcp protocol (netstring-framed JSON: commands with a token, responses
echoing it, unsolicited events such as CALL_ESTABLISHED) to dial, answer, hang up and send
RFC 2833 DTMF. Agents auto-answer; citizens dial 12345 through the sandbox's "carrier" (they do
not register, so Asterisk identifies them by address as the trunk).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import urllib.parse
import wave
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("devtools.phones")

BARESIP_MODULES = Path("/usr/lib/baresip/modules")
SIP_SERVER = "127.0.0.1:5060"


class PhoneError(RuntimeError):
    pass


def make_source_wav(path: Path, seconds: int = 300, hz: int = 425) -> Path:
    """A quiet 8 kHz tone for the phone's microphone (baresip's ausine refuses 8 kHz)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("sox") is None:
        raise PhoneError("sox is not installed (apt-get install sox)")
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path),
                    "synth", str(seconds), "sine", str(hz), "vol", "0.05"], check=True)
    return path


def tone_level(samples: Sequence[int], hz: float, rate: int = 8000) -> float:
    """The Goertzel power of one frequency in a block of samples, relative to the block's
    energy: near 1 for a pure tone of `hz`, near 0 when it is absent (music, silence, another
    tone)."""
    if not samples:
        return 0.0
    coefficient = 2 * math.cos(2 * math.pi * hz / rate)
    previous = before = 0.0
    for sample in samples:
        previous, before = sample + coefficient * previous - before, previous
    power = previous * previous + before * before - coefficient * previous * before
    energy = sum(x * x for x in samples) or 1
    return power / (energy * len(samples) / 2)


def pcm_samples(wav: Path) -> tuple[array.array[int], int]:
    try:
        with wave.open(str(wav)) as w:
            return array.array("h", w.readframes(w.getnframes())), w.getframerate()
    except (wave.Error, EOFError):
        data = wav.read_bytes()[44:]
        return array.array("h", data[:len(data) // 2 * 2]), 8000


def heard_tone(wav: Path, hz: float, start: float = 0.0, seconds: float | None = None) -> float:
    """How much of `hz` a phone heard in its decoded audio (baresip's sndfile dump) between
    `start` and `start + seconds`: the fraction of 100 ms blocks where the tone dominates.
    `start` < 0 counts back from the end. A dump still being written has no sizes in its
    header yet: it is read as the 8 kHz 16-bit mono PCM baresip writes after 44 bytes."""
    samples, rate = pcm_samples(wav)
    first = int((len(samples) / rate + start if start < 0 else start) * rate)
    last = len(samples) if seconds is None else first + int(seconds * rate)
    samples = samples[max(0, first):last]
    block = rate // 10
    blocks = [samples[i:i + block] for i in range(0, len(samples) - block + 1, block)]
    if not blocks:
        return 0.0
    return sum(1 for b in blocks if tone_level(b, hz, rate) > 0.5) / len(blocks)


def netstring(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b":" + payload + b","


class NetstringReader:
    """Pure netstring framing: feed bytes, take whole payloads."""

    MAX = 1 << 20

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while True:
            colon = self._buf.find(b":")
            if colon < 0:
                if len(self._buf) > 12:
                    raise PhoneError("netstring: no length prefix")
                return out
            length = int(self._buf[:colon])
            if length > self.MAX:
                raise PhoneError("netstring: frame too large")
            end = colon + 1 + length
            if len(self._buf) < end + 1:
                return out
            if self._buf[end:end + 1] != b",":
                raise PhoneError("netstring: missing terminator")
            out.append(bytes(self._buf[colon + 1:end]))
            del self._buf[:end + 1]


@dataclass
class PhoneSpec:
    name: str  # a label for logs, e.g. "agent1001" or "citizen-1"
    user: str  # SIP user: the agent's endpoint name, or the citizen's phone number
    display_name: str = ""
    password: str | None = None  # agents register; citizens do not
    auto_answer: bool = False
    sip_port: int = 0
    ctrl_port: int = 0
    tone_hz: int = 425  # what its microphone sends: give parties of one call different tones
    keep_audio: bool = False  # write what it hears and sends to <workdir>/audio (sndfile)
    home: Any = None  # a devtools.netns.HomeNetwork: the phone runs in its home namespace, behind NAT
    server: str = SIP_SERVER  # where it registers and calls (a home phone: the remote-seat transport)
    tls_ca: Path | None = None  # register and call over TLS, trusting this CA, with SRTP audio (home seats)


@dataclass
class BaresipPhone:
    spec: PhoneSpec
    workdir: Path
    source_wav: Path
    events: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    _proc: asyncio.subprocess.Process | None = None
    _writer: asyncio.StreamWriter | None = None
    _reader_task: asyncio.Task[None] | None = None
    _pending: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _tokens: itertools.count[int] = field(default_factory=itertools.count)

    # ---- lifecycle ----
    @property
    def _address(self) -> str:
        return "127.0.0.1" if self.spec.home is None else self.spec.home.phone_address

    @property
    def _interface(self) -> str:
        return "127.0.0.1" if self.spec.home is None else self.spec.home.phone_interface

    def _write_config(self) -> None:
        s = self.spec
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = f"""\
poll_method epoll
sip_listen {self._address}:{s.sip_port}
net_interface {self._interface}
call_local_timeout 120
call_max_calls 4
audio_source aufile,{self.source_wav}
audio_player aubridge,{s.name}
audio_alert aubridge,{s.name}
rtp_ports 30000-39999
rtp_timeout 0
module_path {BARESIP_MODULES}
module g711.so
module aufile.so
module aubridge.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{s.ctrl_port}
"""
        if s.keep_audio:
            (self.workdir / "audio").mkdir(exist_ok=True)
            config += f"module sndfile.so\nsnd_path {self.workdir / 'audio'}\n"
        if s.tls_ca is not None:
            config += f"sip_cafile {s.tls_ca}\nmodule srtp.so\n"
        (self.workdir / "config").write_text(config)
        params = [f"outbound=sip:{s.server}", "audio_codecs=PCMA,PCMU"]
        if s.tls_ca is not None:
            params = [f'outbound="sip:{s.server};transport=tls"', "audio_codecs=PCMA,PCMU", "mediaenc=srtp-mand"]
        if s.password is None:
            params.append("regint=0")
        else:
            params += [f"auth_pass={s.password}", "regint=300"]
        if s.auto_answer:
            params.append("answermode=auto")
        display = f'"{s.display_name}" ' if s.display_name else ""
        account = f"{display}<sip:{s.user}@127.0.0.1>;" + ";".join(params)
        (self.workdir / "accounts").write_text(account + "\n")
        (self.workdir / "contacts").write_text("")

    async def start(self, timeout: float = 10.0) -> None:
        if shutil.which("baresip") is None:
            raise PhoneError("baresip is not installed (apt-get install baresip-core)")
        self._write_config()
        command = ["baresip", "-f", str(self.workdir)]
        self._proc = await asyncio.create_subprocess_exec(
            *(self.spec.home.command(*command) if self.spec.home is not None else command),
            stdin=subprocess.DEVNULL, stdout=(self.workdir / "baresip.log").open("wb"),
            stderr=subprocess.STDOUT, start_new_session=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                if self.spec.home is not None:  # its ctrl_tcp is on the home namespace's loopback
                    sock = self.spec.home.connect_inside(self.spec.ctrl_port)
                    reader, self._writer = await asyncio.open_connection(sock=sock)
                else:
                    reader, self._writer = await asyncio.open_connection("127.0.0.1", self.spec.ctrl_port)
                break
            except OSError:
                if self._proc.returncode is not None or loop.time() > deadline:
                    raise PhoneError(f"{self.spec.name}: baresip did not open ctrl_tcp "
                                     f"(see {self.workdir / 'baresip.log'})") from None
                await asyncio.sleep(0.05)
        self._reader_task = asyncio.create_task(self._read(reader), name=f"phone-{self.spec.name}")

    async def stop(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.command("quit"), 1.0)
            self._writer.close()
        if self._proc is not None and self._proc.returncode is None:
            try:
                await asyncio.wait_for(self._proc.wait(), 2.0)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self._proc.send_signal(signal.SIGKILL)
                await self._proc.wait()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task

    async def _read(self, reader: asyncio.StreamReader) -> None:
        framing = NetstringReader()
        while data := await reader.read(65536):
            for payload in framing.feed(data):
                message = json.loads(payload)
                if message.get("response"):
                    future = self._pending.pop(str(message.get("token")), None)
                    if future is not None and not future.done():
                        future.set_result(message)
                elif message.get("event"):
                    log.debug("%s event %s", self.spec.name, message.get("type"))
                    self.events.put_nowait(message)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(PhoneError(f"{self.spec.name}: ctrl_tcp closed"))

    # ---- commands ----
    async def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        if self._writer is None:
            raise PhoneError(f"{self.spec.name}: not started")
        token = str(next(self._tokens))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[token] = future
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._writer.write(netstring(body))
        await self._writer.drain()
        reply = await asyncio.wait_for(future, timeout)
        if not reply.get("ok", False):
            raise PhoneError(f"{self.spec.name}: {command} {params!r} failed: {reply.get('data')}")
        return reply

    async def dial(self, number: str) -> None:
        await self.command("dial", f"sip:{number}@{self.spec.server}")

    async def hangup(self) -> None:
        await self.command("hangup")

    async def answer(self) -> None:
        await self.command("accept")

    async def send_dtmf(self, digits: str, gap: float = 0.25) -> None:
        for digit in digits:
            await self.command("sndcode", digit)
            await asyncio.sleep(gap)

    async def register_again(self, unregistered: Callable[[], Awaitable[None]] | None = None) -> None:
        """A fresh registration, as the phone's own timer makes one: the account is dropped
        (un-REGISTER) and added again (REGISTER). baresip sends the two back to back with the
        same contact, and Asterisk may take them in either order (then the contact is gone
        while the phone thinks it registered): `unregistered` waits until the registrar has
        let the contact go before the REGISTER is sent (tests/integration/conftest.py)."""
        account = (self.workdir / "accounts").read_text().strip()
        await self.command("uadel", account.split(";", 1)[0].split("<", 1)[-1].rstrip(">"))
        if unregistered is not None:
            await unregistered()
        await self.command("uanew", account)
        await self.wait_registered()

    def freeze(self) -> None:
        """The phone vanishes without a word (SIGSTOP): no RTP, no answer to Asterisk's qualify,
        as when a home seat's network goes."""
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGCONT)

    async def transfer_attended(self, line: int, target: str, replaces: str) -> None:
        """Refer the call on `line` to the dialog `replaces` names (SIP REFER with Replaces, an
        attended transfer: baresip 1.0 has no command of its own for it, but sends the
        Refer-To URI it is given). `replaces` is `replaces_header()` of the consult dialog."""
        await self.command("line", str(line))
        await self.command("transfer", f"sip:{target}@{self.spec.server}?Replaces={urllib.parse.quote(replaces, safe='')}")

    def heard_audio(self) -> list[Path]:
        """The decoded audio of each call this phone had (keep_audio), oldest first."""
        return sorted((self.workdir / "audio").glob("dump-*-dec.wav"), key=lambda p: p.stat().st_mtime)

    async def wait_registered(self, timeout: float = 10.0) -> None:
        """Poll `reginfo`: REGISTER_OK may fire before ctrl_tcp is connected."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while "OK" not in (await self.command("reginfo")).get("data", ""):
            if loop.time() > deadline:
                raise PhoneError(f"{self.spec.name}: not registered within {timeout}s")
            await asyncio.sleep(0.1)

    async def wait_event(self, *types: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next event of one of `types` (others are skipped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise asyncio.TimeoutError(f"{self.spec.name}: none of {types} within {timeout}s")
            event = await asyncio.wait_for(self.events.get(), remaining)
            if event.get("type") in types:
                return event


class PhoneBank:
    """Starts and stops a set of phones with non-clashing loopback ports."""

    def __init__(self, workdir: Path, *, base_sip_port: int = 25060, base_ctrl_port: int = 24444) -> None:
        self.workdir = workdir
        self._next = 0
        self._base_sip = base_sip_port
        self._base_ctrl = base_ctrl_port
        self.phones: list[BaresipPhone] = []
        self.source_wav = make_source_wav(workdir / "source.wav")

    async def add(self, spec: PhoneSpec) -> BaresipPhone:
        # baresip binds UDP and TCP on sip_port and TLS on sip_port + 1
        spec.sip_port = spec.sip_port or self._base_sip + 4 * self._next
        spec.ctrl_port = spec.ctrl_port or self._base_ctrl + self._next
        self._next += 1
        source = self.source_wav if spec.tone_hz == 425 else \
            make_source_wav(self.workdir / f"source-{spec.tone_hz}.wav", hz=spec.tone_hz)
        phone = BaresipPhone(spec, self.workdir / spec.name, source)
        await phone.start()
        self.phones.append(phone)
        if spec.password is not None:
            await phone.wait_registered()
        return phone

    async def close(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.phones), return_exceptions=True)
        self.phones.clear()
