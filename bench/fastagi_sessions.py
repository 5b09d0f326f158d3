"""FastAGI sessions per second at 6 commands a session: our server against panoramisk's.

The server runs in one process pinned to one core, the load client in another pinned to the
other core; the client speaks the protocol as Asterisk does (environment header, one reply per
command line). Each session: ANSWER, SET VARIABLE, GET VARIABLE, STREAM FILE, GET DATA, HANGUP.
Loopback only, bounded in count and time. Target: >= 2,000 sessions/s on one core.

    .venv/bin/python bench/fastagi_sessions.py [--sessions N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ENV = ("agi_network: yes\nagi_network_script: bench\nagi_request: agi://127.0.0.1/bench\n"
       "agi_channel: PJSIP/carrier-00000001\nagi_language: en\nagi_type: PJSIP\n"
       "agi_uniqueid: hotline-pbx-1795347643.17\nagi_version: 22.10.1\n"
       "agi_callerid: 13800138001\nagi_calleridname: 张三丰\nagi_callingpres: 0\n"
       "agi_callingani2: 0\nagi_callington: 0\nagi_callingtns: 0\nagi_dnid: 12345\n"
       "agi_rdnis: unknown\nagi_context: from-trunk\nagi_extension: 12345\nagi_priority: 3\n"
       "agi_enhanced: 0.0\nagi_accountcode: \nagi_threadid: 140245071480512\n\n").encode()
REPLIES = {b"ANSWER": b"200 result=0\n", b"SET": b"200 result=1\n", b"GET": b"200 result=1 (general)\n",
           b"STREAM": b"200 result=0 endpos=12000\n", b"EXEC": b"200 result=0\n", b"HANGUP": b"200 result=1\n"}


def pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        os.sched_setaffinity(0, {core % os.cpu_count()})  # type: ignore[operator]


# ---- servers ---------------------------------------------------------------------------------

async def ours(port_out: mp.Queue, stop: mp.Event) -> None:  # type: ignore[type-arg]
    from pbx.fastagi import FastAgiServer

    async def flow(agi) -> None:  # type: ignore[no-untyped-def]
        await agi.answer()
        await agi.set_variable("HOTLINE_DESK", "general")
        await agi.get_variable("HOTLINE_DESK")
        await agi.stream_file("hello-world")
        await agi.get_data("beep", 3000, 4)
        await agi.command("HANGUP")

    server = FastAgiServer("127.0.0.1", 0, command_timeout=10)
    server.route("bench", flow)
    await server.start()
    port_out.put(server.bound_port)
    while not stop.is_set():
        await asyncio.sleep(0.1)
    await server.close()


async def panoramisk_server(port_out: mp.Queue, stop: mp.Event) -> None:  # type: ignore[type-arg]
    import logging

    from panoramisk.fast_agi import Application

    logging.getLogger("panoramisk").setLevel(logging.WARNING)

    async def flow(request) -> None:  # type: ignore[no-untyped-def]
        await request.send_command("ANSWER")
        await request.send_command("SET VARIABLE HOTLINE_DESK general")
        await request.send_command("GET VARIABLE HOTLINE_DESK")
        await request.send_command('STREAM FILE hello-world ""')
        await request.send_command("GET DATA beep 3000 4")
        await request.send_command("HANGUP")

    app = Application()
    app.add_route("bench", flow)
    server = await asyncio.start_server(app.handler, "127.0.0.1", 0)
    port_out.put(server.sockets[0].getsockname()[1])
    while not stop.is_set():
        await asyncio.sleep(0.1)
    server.close()


def serve(kind: str, port_out: mp.Queue, stop: mp.Event, cpu_out: mp.Queue, loop: str) -> None:  # type: ignore[type-arg]
    pin(0)
    import logging
    import resource
    logging.disable(logging.CRITICAL)
    main = ours(port_out, stop) if kind == "ours" else panoramisk_server(port_out, stop)
    if loop == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_out.put(usage.ru_utime + usage.ru_stime)


# ---- the load client (plays Asterisk) --------------------------------------------------------

async def one_session(port: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(ENV)
    commands = 0
    while line := await reader.readline():
        commands += 1
        writer.write(REPLIES.get(line.split(b" ", 1)[0].strip(), b"200 result=0\n"))
        if line.startswith(b"HANGUP"):
            break
    writer.close()
    return commands


async def load(port: int, sessions: int, concurrency: int) -> tuple[float, int]:
    todo = iter(range(sessions))
    total = 0

    async def worker() -> None:
        nonlocal total
        for _ in todo:
            commands = await one_session(port)  # not `total += await …`: that loses updates
            total += commands

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, total


def client(port: int, sessions: int, concurrency: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    pin(1)
    try:
        import uvloop  # the client should not be the limit

        out.put(uvloop.run(load(port, sessions, concurrency)))
    except ImportError:
        out.put(asyncio.run(load(port, sessions, concurrency)))


def measure(kind: str, sessions: int, concurrency: int, loop: str) -> tuple[float, float, float]:
    ctx = mp.get_context("spawn")
    port_q, result_q, cpu_q, stop = ctx.Queue(), ctx.Queue(), ctx.Queue(), ctx.Event()
    server = ctx.Process(target=serve, args=(kind, port_q, stop, cpu_q, loop))
    server.start()
    port = port_q.get(timeout=20)
    loader = ctx.Process(target=client, args=(port, sessions, concurrency, result_q))
    loader.start()
    elapsed, commands = result_q.get(timeout=300)
    loader.join()
    stop.set()
    cpu = cpu_q.get(timeout=20)
    server.join(10)
    if commands != sessions * 6:
        print(f"  warning: {kind} ran {commands} commands for {sessions} sessions")
    return sessions / elapsed, commands / elapsed, cpu / sessions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    print(f"FastAGI, {args.sessions} sessions x 6 commands, {args.concurrency} concurrent, "
          "server pinned to one core")
    print("  (the load client is Python too and shares the machine: the server's own CPU time per")
    print("   session says what one core sustains when the client is not the limit)")
    loops = ["asyncio"]
    try:
        import uvloop  # noqa: F401

        loops.append("uvloop")
    except ImportError:
        print("  (uvloop not installed: asyncio's default loop only)")
    for loop in loops:
        results = {}
        for kind in ("ours", "panoramisk"):
            sessions_s, commands_s, cpu = measure(kind, args.sessions, args.concurrency, loop)
            results[kind] = 1 / cpu
            print(f"  [{loop:7s}] {kind:10s} {sessions_s:6.0f} sessions/s measured, {commands_s:6.0f} "
                  f"commands/s; server CPU {cpu * 1e6:5.0f} us/session = {1 / cpu:5.0f} sessions/s per core")
        print(f"  [{loop:7s}] ratio ours/panoramisk (per core) {results['ours'] / results['panoramisk']:.2f};"
              f" target >= 2,000 sessions/s on one core: {'met' if results['ours'] >= 2000 else 'NOT met'}")


if __name__ == "__main__":
    main()
