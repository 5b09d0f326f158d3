"""The listeners of bench/events_fanout.py, in a process of their own (as the hall's browsers
and the city's systems are not in the controller's process): N websocket clients on the
controller's `/api/events` and one MQTT subscriber on `hotline/<site>/#`, each counting what it
receives. Prints `ready` once all are connected, then, for every line read on stdin, one line of
JSON with the counts so far; ends when stdin closes.

    python bench/events_clients.py HTTP_PORT BROKER_PORT CLIENTS SITE
"""

from __future__ import annotations

import asyncio
import json
import sys

import aiohttp
import aiomqtt


async def main(http_port: int, broker_port: int, clients: int, site: str) -> None:
    counts = {"ws": 0, "mqtt": 0, "closed": 0}
    subscribed = asyncio.Event()

    async def read(socket: aiohttp.ClientWebSocketResponse) -> None:
        async for message in socket:
            if message.type is aiohttp.WSMsgType.TEXT:
                counts["ws"] += 1
        counts["closed"] += 1

    async def count_mqtt() -> None:
        async with aiomqtt.Client("127.0.0.1", broker_port) as client:
            await client.subscribe(f"hotline/{site}/#", qos=1)
            subscribed.set()
            async for _ in client.messages:
                counts["mqtt"] += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets = await asyncio.gather(*(session.ws_connect(f"http://127.0.0.1:{http_port}/api/events")
                                         for _ in range(clients)))
        readers = [asyncio.create_task(read(s)) for s in sockets]
        mqtt = asyncio.create_task(count_mqtt())
        await asyncio.wait_for(subscribed.wait(), 10)
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, sys.stdin.readline):
            print(json.dumps(counts), flush=True)
        for task in (*readers, mqtt):
            task.cancel()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
