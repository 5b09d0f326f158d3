"""FastAGI sessions per second at 6 commands a session: our server against panoramisk 1.4's.

The server runs in one process pinned to one core, the load client (playing Asterisk) in another
pinned to the other core. The client sends a realistic environment header and answers each command
as Asterisk 22 would; each session runs ANSWER, SET VARIABLE, GET VARIABLE, STREAM FILE, GET DATA,
HANGUP. Loopback only, bounded in count and time. Target: >= 2,000 sessions/s on one core.
Prints figures, asserts nothing.

    .venv/bin/python bench/fastagi_sessions.py [--sessions N] [--concurrency C] [--loop asyncio|uvloop|both]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ENV = ("agi_request: agi://127.0.0.1:4573/bench?desk=general\n"
       "agi_channel: PJSIP/trunk-00000001\nagi_language: zh\nagi_type: PJSIP\n"
       "agi_uniqueid: 1795347643.17\nagi_version: 22.1.0\n"
       "agi_callerid: 13800138001\nagi_calleridname: 张三丰\nagi_callingpres: 0\n"
       "agi_callingani2: 0\nagi_callington: 0\nagi_callingtns: 0\nagi_dnid: 12345\n"
       "agi_rdnis: unknown\nagi_context: from-trunk\nagi_extension: 12345\nagi_priority: 3\n"
       "agi_enhanced: 0.0\nagi_accountcode: \nagi_threadid: 140245071480512\n"
       "agi_network: yes\nagi_network_script: bench?desk=general\n\n").encode()
# what Asterisk answers, by the first two words of the command
REPLIES = {b"ANSWER": b"200 result=0\n",
           b"SET VARIABLE": b"200 result=1\n",
           b"GET VARIABLE": b"200 result=1 (general)\n",
           b"STREAM FILE": b"200 result=0 endpos=12000\n",
           b"GET DATA": b"200 result=1234\n",
           b"HANGUP": b"200 result=1\nHANGUP\n"}  # the channel is gone: HANGUP follows
COMMANDS_PER_SESSION = 6


def pin(core: int) -> bool:
    cpus = os.cpu_count() or 1
    if hasattr(os, "sched_setaffinity") and cpus > 1:
        os.sched_setaffinity(0, {core % cpus})
        return True
    return False


def run_loop(main: Any, loop: str) -> Any:
    if loop == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


# ---- servers ---------------------------------------------------------------------------------

async def our_server(port_q: Queue[int], stop: Event, cpu_q: Queue[float]) -> None:
    from pbx.fastagi import AgiChannel, FastAgiServer

    async def flow(agi: AgiChannel) -> None:
        await agi.answer()
        await agi.set_variable("HOTLINE_DESK", "general")
        await agi.get_variable("HOTLINE_DESK")
        await agi.stream_file("hello-world")
        await agi.get_data("beep", 3000, 4)
        await agi.hangup(cause=None)  # AGI HANGUP, as the baseline sends

    server = FastAgiServer("127.0.0.1", 0, command_timeout=10)
    server.route("bench", flow)
    await server.start()
    await serve_until_stopped(server.bound_port, port_q, stop, cpu_q)
    await server.close()


async def panoramisk_server(port_q: Queue[int], stop: Event, cpu_q: Queue[float]) -> None:
    from panoramisk.fast_agi import Application  # type: ignore[import-untyped]

    async def flow(request: Any) -> None:
        await request.send_command("ANSWER")
        await request.send_command("SET VARIABLE HOTLINE_DESK general")
        await request.send_command("GET VARIABLE HOTLINE_DESK")
        await request.send_command('STREAM FILE hello-world ""')
        await request.send_command("GET DATA beep 3000 4")
        await request.send_command("HANGUP")

    app = Application()
    app.add_route("bench?desk=general", flow)  # it routes on the whole script, query included
    server = await asyncio.start_server(app.handler, "127.0.0.1", 0, backlog=1024)
    await serve_until_stopped(server.sockets[0].getsockname()[1], port_q, stop, cpu_q)
    server.close()


async def serve_until_stopped(port: int, port_q: Queue[int], stop: Event,
                              cpu_q: Queue[float]) -> None:
    """Publish the port, then count only the CPU spent while serving (not start-up/imports)."""
    start = time.process_time()
    port_q.put(port)
    while not stop.is_set():
        await asyncio.sleep(0.05)
    cpu_q.put(time.process_time() - start)


def serve(kind: str, loop: str, port_q: Queue[int], stop: Event, cpu_q: Queue[float]) -> None:
    pin(0)
    import logging

    logging.disable(logging.CRITICAL)
    main = our_server if kind == "ours" else panoramisk_server
    run_loop(main(port_q, stop, cpu_q), loop)


# ---- the load client (plays Asterisk) --------------------------------------------------------

async def one_session(port: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(ENV)
    commands = 0
    try:
        while line := await reader.readline():  # until the server closes the session
            commands += 1
            words = line.split(None, 2)
            verb = b" ".join(words[:2]) if words[0] in (b"SET", b"GET", b"STREAM") else words[0]
            writer.write(REPLIES.get(verb, b"510 Invalid or unknown command\n"))
    finally:
        writer.close()
    return commands


async def load(port: int, sessions: int, concurrency: int, limit: float) -> tuple[float, int, int]:
    todo = iter(range(sessions))
    totals = [0, 0]  # commands, failed sessions

    async def worker() -> None:
        for _ in todo:
            try:
                commands = await one_session(port)
            except OSError:
                totals[1] += 1
                continue
            totals[0] += commands
            if commands != COMMANDS_PER_SESSION:
                totals[1] += 1

    start = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), limit)
    return time.perf_counter() - start, totals[0], totals[1]


def client(port: int, sessions: int, concurrency: int, limit: float, out: Queue[Any]) -> None:
    pin(1)
    try:
        import uvloop  # noqa: F401  (the client should not be the limit)

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    try:
        out.put(run_loop(load(port, sessions, concurrency, limit), loop))
    except Exception as exc:  # noqa: BLE001  (report, do not hang the parent)
        out.put(exc)


def measure(kind: str, loop: str, sessions: int, concurrency: int,
            limit: float) -> tuple[float, float, float, int]:
    ctx = mp.get_context("spawn")
    port_q: Queue[int] = ctx.Queue()
    cpu_q: Queue[float] = ctx.Queue()
    result_q: Queue[Any] = ctx.Queue()
    stop = ctx.Event()
    server = ctx.Process(target=serve, args=(kind, loop, port_q, stop, cpu_q), daemon=True)
    server.start()
    try:
        port = port_q.get(timeout=30)
        loader = ctx.Process(target=client, args=(port, sessions, concurrency, limit, result_q),
                             daemon=True)
        loader.start()
        result = result_q.get(timeout=limit + 30)
        loader.join(10)
        stop.set()
        cpu = cpu_q.get(timeout=30)
    finally:
        stop.set()
        server.join(10)
        if server.is_alive():
            server.kill()
    if isinstance(result, Exception):
        raise RuntimeError(f"{kind}: load client failed: {result!r}")
    elapsed, commands, failed = result
    return sessions / elapsed, commands / elapsed, cpu / sessions, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--loop", choices=("asyncio", "uvloop", "both"), default="both")
    parser.add_argument("--time-limit", type=float, default=120.0, help="per run, seconds")
    args = parser.parse_args()
    loops = ["asyncio", "uvloop"] if args.loop == "both" else [args.loop]
    if "uvloop" in loops:
        try:
            import uvloop  # noqa: F401
        except ImportError:
            print("(uvloop not installed: asyncio's default loop only)")
            loops = ["asyncio"]
    cores = os.cpu_count() or 1
    print(f"FastAGI: {args.sessions} sessions x {COMMANDS_PER_SESSION} commands, "
          f"{args.concurrency} concurrent; server pinned to core 0, load client to core 1"
          + ("" if cores > 1 else " (only one core: they share it)"))
    print("  'measured' is end to end (the Python load client can be the limit); 'per core' is "
          "sessions / server CPU second")
    for loop in loops:
        per_core = {}
        for kind in ("ours", "panoramisk"):
            sessions_s, commands_s, cpu, failed = measure(kind, loop, args.sessions,
                                                          args.concurrency, args.time_limit)
            per_core[kind] = 1 / cpu if cpu > 0 else float("inf")
            print(f"  [{loop:7s}] {kind:10s} measured {sessions_s:6.0f} sessions/s "
                  f"{commands_s:7.0f} commands/s | server CPU {cpu * 1e6:4.0f} us/session = "
                  f"{per_core[kind]:6.0f} sessions/s per core"
                  + (f" | {failed} sessions incomplete" if failed else ""))
        print(f"  [{loop:7s}] ours/panoramisk per core: {per_core['ours'] / per_core['panoramisk']:.2f}x")


if __name__ == "__main__":
    main()
