"""The fact stream to an MQTT broker (issue 17) with aiomqtt, for the city's other systems.

Topics (`<site>` is `[events] site`):

    hotline/<site>/agents/<agent>/state       retained, QoS 1  {"state", "reason", "since", "seq"}
    hotline/<site>/agents/<agent>/reachable   retained, QoS 1  {"reachable", "seq"}
    hotline/<site>/agents/<agent>/line        retained, QoS 1  {"line", "cause", "seq"} (persistent lines)
    hotline/<site>/desks/<desk>/figures       retained, QoS 1  {"waiting", "longest_wait", "agents", "seq"}
    hotline/<site>/calls/<linkedid>/events    QoS 1            {"seq", "kind", "at", "agent", "data"}

Call events carry a caller's number only masked, unless `[events] personal_data = true`;
never a caller's name. The publisher never makes the engine wait: it reads a subscription of
the stream. It reconnects with a doubling backoff; on reconnect it sends what it missed while
away (from the stream's ring, in order, as far as the ring still holds it), after the latest
state of every retained topic, so a broker restarted without persistence has the hall's state
again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import deque
from typing import Any

import aiomqtt

from acd.privacy import mask_number
from events.stream import EventFact, EventStream, Subscription

log = logging.getLogger("events.mqtt")
# paho (under aiomqtt, logger "mqtt") warns of every publish pending beyond its first few: this
# publisher pipelines up to IN_FLIGHT on purpose, and says itself when the broker is slow or gone
logging.getLogger("mqtt").setLevel(logging.ERROR)

STATE_TOPICS = {"agent.state": "state", "agent.reachable": "reachable", "agent.line": "line"}
QOS = 1
KEEPALIVE = 10  # seconds: a broker gone without a word is noticed within about 1.5 of these
IN_FLIGHT = 100  # publishes awaiting the broker's PUBACK at once
DEPTH = 50_000  # facts the publisher may be behind (a broker that is slow, not gone)
_UNSAFE = re.compile(r"[+#/\x00]")  # an MQTT topic level may not hold these


def _level(text: str) -> str:
    return _UNSAFE.sub("_", text) or "_"


class MqttPublisher:
    def __init__(self, stream: EventStream, host: str, port: int = 1883, *, site: str = "hotline",
                 username: str | None = None, password: str | None = None, personal_data: bool = False,
                 reconnect_max: float = 30.0) -> None:
        self._stream = stream
        self._host, self._port = host, port
        self._username, self._password = username or None, password
        self._prefix = f"hotline/{_level(site)}"
        self._personal = personal_data
        self._reconnect_max = reconnect_max
        self.latest: dict[str, bytes] = {}  # retained topic -> its last payload (kept while away too)
        self._sent = 0  # the last sequence number the broker took
        self.connected = False
        self.published = 0
        self.reconnects = 0
        stream.listen(self._keep_latest)

    def messages(self, fact: EventFact) -> list[tuple[str, bytes, bool]]:
        """(topic, payload, retained) for a fact; none for facts with no topic."""
        if fact.kind in STATE_TOPICS and fact.agent_id:
            body = {**fact.data, "seq": fact.seq}
            return [(f"{self._prefix}/agents/{_level(fact.agent_id)}/{STATE_TOPICS[fact.kind]}", _json(body), True)]
        if fact.kind == "desk.figures":
            body = {k: v for k, v in fact.data.items() if k != "desk"} | {"seq": fact.seq}
            return [(f"{self._prefix}/desks/{_level(str(fact.data.get('desk', '')))}/figures", _json(body), True)]
        if fact.kind.startswith("call.") and fact.linkedid:
            data = dict(fact.data)
            if data.get("number") and not self._personal:
                data["number"] = mask_number(str(data["number"]))
            body = {"seq": fact.seq, "kind": fact.kind, "at": fact.at, "agent": fact.agent_id, "data": data}
            return [(f"{self._prefix}/calls/{_level(fact.linkedid)}/events", _json(body), False)]
        return []

    def _keep_latest(self, fact: EventFact) -> None:
        """In the engine's step (a listener): only the retained topics' facts are encoded here."""
        if fact.kind not in STATE_TOPICS and fact.kind != "desk.figures":
            return
        for topic, payload, retained in self.messages(fact):
            if retained:
                self.latest[topic] = payload

    async def run(self) -> None:
        backoff = 1.0
        while True:
            subscription = self._stream.subscribe(DEPTH)
            missed = self._stream.since(self._sent)
            try:
                async with aiomqtt.Client(self._host, self._port, username=self._username, password=self._password,
                                          identifier=f"hotline-pbx-{self._prefix.rsplit('/', 1)[-1]}",
                                          keepalive=KEEPALIVE) as client:
                    self.connected, backoff = True, 1.0
                    log.info("MQTT connected to %s:%d", self._host, self._port)
                    forwarding = asyncio.create_task(self._forward(client, subscription, missed or []))
                    watching = asyncio.create_task(_until_disconnected(client))
                    try:
                        done, _ = await asyncio.wait((forwarding, watching), return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        forwarding.cancel()
                        watching.cancel()
                    for task in done:
                        task.result()  # the broker's error, if that is how it ended
            except aiomqtt.MqttError as exc:
                log.warning("MQTT %s:%d: %s; again in %.0f s", self._host, self._port, exc, backoff)
            finally:
                subscription.close()
                self.connected = False
            self.reconnects += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._reconnect_max)

    async def _forward(self, client: aiomqtt.Client, subscription: Subscription, missed: list[EventFact]) -> None:
        """The state as it is now first (a broker restarted without persistence has lost it),
        then what was missed, in order (it ends with the same state), then the facts as they
        come. Publishes are pipelined: up to IN_FLIGHT await the broker's acknowledgement at
        once (sent in order; awaiting each PUBACK in turn caps the rate at one per round trip).
        A fact counts as taken once its messages and all before them are acknowledged."""
        window: deque[tuple[int, asyncio.Future[None] | None]] = deque()

        async def settle(keep: int) -> None:
            while len(window) > keep:
                seq, acknowledged = window.popleft()
                if acknowledged is not None:
                    await acknowledged
                self._sent = max(self._sent, seq)

        def send(fact: EventFact) -> None:
            for topic, payload, retained in self.messages(fact):
                window.append((0, asyncio.ensure_future(client.publish(topic, payload, qos=QOS, retain=retained))))
                self.published += 1
            window.append((fact.seq, None))

        try:
            for topic, payload in list(self.latest.items()):
                window.append((0, asyncio.ensure_future(client.publish(topic, payload, qos=QOS, retain=True))))
            for fact in missed:
                send(fact)
                await settle(IN_FLIGHT)
            async for fact in subscription:
                if fact.seq > self._sent:
                    send(fact)
                    await settle(IN_FLIGHT if subscription.behind else 0)
            await settle(0)
            if subscription.cut:
                log.warning("MQTT: the broker took events too slowly; catching up from the stream")
        finally:
            for _, acknowledged in window:
                if acknowledged is not None:
                    acknowledged.cancel()

async def _until_disconnected(client: aiomqtt.Client) -> None:
    """Returns (raising MqttError) when the broker goes: the client reads nothing it subscribed to,
    but its message iterator is what tells of a lost connection."""
    async for _ in client.messages:
        pass


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, default=str).encode()
