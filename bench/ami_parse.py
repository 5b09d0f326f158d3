"""Benchmark: our sans-IO AMI parser (pbx.ami) against stock panoramisk 1.4's parsing path.

    .venv/bin/python bench/ami_parse.py [FILE] [--quick] [--chunk 4096] [--seconds 2]

FILE is a raw AMI byte stream as recorded off the wire (devtools/recorder.py,
`hotline_pbx.py sandbox record-ami --out tests/fixtures/ami/NAME.raw`). Without FILE the newest
non-synthetic tests/fixtures/ami/*.raw is used; when there is none, a synthetic Asterisk 22
stand-in is generated (and the output says so). Both parsers get the same bytes in the same
TCP-sized chunks. panoramisk runs its real `AMIProtocol.data_received` (decode the chunk, split on
CRLF CRLF, `Message.from_line`) with a dummy transport and a factory whose `dispatch` only
collects the messages. Prints figures; asserts nothing about timing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pbx.ami import AmiParser, Event  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "ami"

NAMES = ["张三丰", "李小龙", "王芳", "欧阳娜娜", "陈", "赵敏", "Zhang Wei", "<unknown>", "刘德华", "市民"]


def _channel(prefix: str, chan: str, state: tuple[str, str], cid: str, name: str, exten: str,
             uid: str, linked: str, context: str = "hotline-in") -> list[tuple[str, str]]:
    return [(f"{prefix}Channel", chan), (f"{prefix}ChannelState", state[0]),
            (f"{prefix}ChannelStateDesc", state[1]), (f"{prefix}CallerIDNum", cid),
            (f"{prefix}CallerIDName", name), (f"{prefix}ConnectedLineNum", "<unknown>"),
            (f"{prefix}ConnectedLineName", "<unknown>"), (f"{prefix}Language", "zh"),
            (f"{prefix}AccountCode", ""), (f"{prefix}Context", context),
            (f"{prefix}Exten", exten), (f"{prefix}Priority", "1"), (f"{prefix}Uniqueid", uid),
            (f"{prefix}Linkedid", linked)]


def synthetic_stream(calls: int = 400, seed: int = 12345) -> bytes:
    """Asterisk 22-shaped traffic: per call Newchannel, Newstate, VarSet×3, DialBegin,
    Newchannel (agent), DialEnd, BridgeEnter×2, BridgeLeave, Hangup×2 with their usual headers."""
    rnd = random.Random(seed)
    out = [b"Asterisk Call Manager/11.0.0\r\n",
           b"Response: Success\r\nActionID: hp-1\r\nMessage: Authentication accepted\r\n\r\n",
           b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 12\r\nLastReload: 12\r\n"
           b"Status: Fully Booted\r\n\r\n"]
    t = 1795346509.0

    def frame(name: str, privilege: str, pairs: list[tuple[str, str]]) -> None:
        nonlocal t
        t += rnd.random() / 10
        lines = [f"Event: {name}", f"Privilege: {privilege}", f"Timestamp: {t:.6f}"]
        lines += [f"{k}: {v}" for k, v in pairs]
        out.append(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))

    for n in range(calls):
        uid = f"{t:.0f}.{2 * n}"
        auid = f"{t:.0f}.{2 * n + 1}"
        chan = f"PJSIP/carrier-{n:08x}"
        achan = f"PJSIP/agent{n % 40:03d}-{n:08x}"
        cid = f"138{rnd.randrange(10**8):08d}"
        name = rnd.choice(NAMES)
        agent = f"agent{n % 40:03d}"
        ring, up = ("4", "Ring"), ("6", "Up")
        frame("Newchannel", "call,all", _channel("", chan, ("0", "Down"), cid, name, "12345", uid, uid))
        frame("Newstate", "call,all", _channel("", chan, ring, cid, name, "12345", uid, uid))
        for var, val in (("HOTLINE_DESK", "housing"), ("CHANNEL(language)", "zh"),
                         ("__HOTLINE_LINKEDID", uid)):
            frame("VarSet", "dialplan,all",
                  _channel("", chan, up, cid, name, "s", uid, uid) + [("Variable", var), ("Value", val)])
        frame("Newchannel", "call,all",
              _channel("", achan, ("0", "Down"), agent, agent, "s", auid, uid, "hotline-agents"))
        frame("DialBegin", "call,all",
              _channel("", chan, up, cid, name, "s", uid, uid)
              + _channel("Dest", achan, ("0", "Down"), agent, agent, "s", auid, uid, "hotline-agents")
              + [("DialString", f"{agent}")])
        frame("DialEnd", "call,all",
              _channel("", chan, up, cid, name, "s", uid, uid)
              + _channel("Dest", achan, up, agent, agent, "s", auid, uid, "hotline-agents")
              + [("DialStatus", "ANSWER")])
        bridge = [("BridgeUniqueid", f"{rnd.getrandbits(128):032x}"), ("BridgeType", "basic"),
                  ("BridgeTechnology", "simple_bridge"), ("BridgeCreator", "<unknown>"),
                  ("BridgeName", "<unknown>"), ("BridgeNumChannels", "1"),
                  ("BridgeVideoSourceMode", "none")]
        frame("BridgeEnter", "call,all", bridge + _channel("", chan, up, cid, name, "s", uid, uid))
        frame("BridgeEnter", "call,all",
              bridge + _channel("", achan, up, agent, name, "s", auid, uid, "hotline-agents"))
        frame("BridgeLeave", "call,all", bridge + _channel("", chan, up, cid, name, "s", uid, uid))
        frame("Hangup", "call,all", _channel("", chan, up, cid, name, "s", uid, uid)
              + [("Cause", "16"), ("Cause-txt", "Normal Clearing")])
        frame("Hangup", "call,all", _channel("", achan, up, agent, name, "s", auid, uid, "hotline-agents")
              + [("Cause", "16"), ("Cause-txt", "Normal Clearing")])
    return b"".join(out)


def load_stream(path: str | None) -> tuple[bytes, str, bool]:
    """(bytes, description, synthetic?)"""
    if path:
        return Path(path).read_bytes(), path, Path(path).name.startswith("synthetic_")
    recorded = [p for p in FIXTURES.glob("*.raw") if not p.name.startswith("synthetic_")]
    if recorded:
        newest = max(recorded, key=lambda p: p.stat().st_mtime)
        return newest.read_bytes(), str(newest.relative_to(ROOT)), False
    return synthetic_stream(), "synthetic Asterisk 22 stand-in (generated)", True


def chunks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


# ---- (a) ours ----
def run_ours(chunks: list[bytes]) -> list[Any]:
    parser = AmiParser()
    events: list[Any] = []
    append = events.append
    for chunk in chunks:
        parser.receive_data(chunk)
        while (message := parser.next_message()) is not None:
            if isinstance(message, Event):
                append(message)
    return events


# ---- (b) stock panoramisk, its own data_received ----
class _Transport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class _Factory:
    """Stands in for panoramisk.Manager: dispatch() only collects; nothing else is patched."""

    save_stream = None
    forgetable_actions: tuple[str, ...] = ()
    awaiting_actions: list[Any] = []

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.dispatch = self.events.append

    def connection_lost(self, exc: object) -> None:
        pass


def make_panoramisk_runner(encoding: str | None) -> Callable[[list[bytes]], list[Any]]:
    from panoramisk.ami_protocol import AMIProtocol

    def run(chunks: list[bytes]) -> list[Any]:
        proto = AMIProtocol()
        proto.connection_made(_Transport())
        factory = _Factory()
        proto.factory = factory
        if encoding is not None:  # what Manager(encoding=...) does; the default is 'ascii'
            proto.encoding = encoding
        for chunk in chunks:
            proto.data_received(chunk)
        return factory.events

    return run


def measure(runners: list[tuple[str, Callable[[list[bytes]], list[Any]]]], chunks: list[bytes],
            seconds: float) -> dict[str, tuple[float, float, int]]:
    """Full passes over the stream, the parsers taking turns (so background load hits both
    alike) until each has run `seconds`. Per parser: (events/s from the median pass,
    events/s from the best pass, events per pass)."""
    times: dict[str, list[float]] = {label: [] for label, _ in runners}
    counts = {label: len(fn(chunks)) for label, fn in runners}  # warm-up
    spent = dict.fromkeys(times, 0.0)
    while min(spent.values()) < seconds:
        for label, fn in runners:
            start = time.perf_counter()
            fn(chunks)
            elapsed = time.perf_counter() - start
            times[label].append(elapsed)
            spent[label] += elapsed
    return {label: (counts[label] / statistics.median(t), counts[label] / min(t), counts[label])
            for label, t in times.items()}


def garbled(ours: list[Any], theirs: list[Any], key: str = "CallerIDName") -> tuple[int, int]:
    """(frames carrying `key`, of those how many panoramisk delivered differently or not at all)."""
    carrying = [e for e in ours if e.get(key)]
    theirs_by_pos = {i: m for i, m in enumerate(theirs)}
    differ = 0
    for i, event in enumerate(ours):
        value = event.get(key)
        if not value:
            continue
        other = theirs_by_pos.get(i)
        if other is None or other.get(key) != value:
            differ += 1
    return len(carrying), differ


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", nargs="?", help="raw AMI stream (default: newest tests/fixtures/ami/*.raw)")
    ap.add_argument("--quick", action="store_true", help="0.3 s per parser instead of 2 s")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--chunk", type=int, default=4096, help="bytes per simulated TCP read")
    args = ap.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else (0.3 if args.quick else 2.0)

    data, source, synthetic = load_stream(args.file)
    if synthetic:
        banner = ["NO RECORDED AMI STREAM: measuring a SYNTHETIC Asterisk 22 stand-in.",
                  "Record one: hotline_pbx.py sandbox record-ami --out tests/fixtures/ami/NAME.raw"]
        width = max(map(len, banner)) + 6
        print("!" * width)
        for line in banner:
            print(f"!! {line:<{width - 6}} !!")
        print("!" * width)
    chunks = chunks_of(data, args.chunk)
    print(f"stream: {source}: {len(data)} bytes in {len(chunks)} chunks of {args.chunk}")

    from importlib.metadata import version as dist_version
    version = dist_version("panoramisk")
    ours_label = "ours (pbx.ami.AmiParser)"
    runners = [(ours_label, run_ours),
               (f"panoramisk {version} AMIProtocol, stock (encoding=ascii)", make_panoramisk_runner(None)),
               (f"panoramisk {version} AMIProtocol, encoding=utf-8", make_panoramisk_runner("utf-8"))]
    results = measure(runners, chunks, seconds)
    print(f"{'parser':<52} {'events/pass':>11} {'events/s (median)':>18} {'(best pass)':>12}")
    for label, (median, best, n) in results.items():
        print(f"{label:<52} {n:>11} {median:>18,.0f} {best:>12,.0f}")
    ours_events = run_ours(chunks)
    ours_median, ours_best, _ = results[ours_label]
    for label, fn in runners[1:]:
        median, best, _ = results[label]
        carrying, differ = garbled(ours_events, fn(chunks))
        print(f"ratio ours / {label}: {ours_median / median:.2f}x (best passes: {ours_best / best:.2f}x)")
        print(f"    CallerIDName differs from ours in {differ} of {carrying} frames"
              f"{' (Chinese names lost or cut)' if differ else ''}")
    zh = sum(1 for e in ours_events if any("\u4e00" <= ch <= "\u9fff" for ch in e.get("CallerIDName")))
    print(f"ours: {zh} events with a Chinese CallerIDName, all decoded whole from {args.chunk}-byte reads")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
