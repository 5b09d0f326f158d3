"""Thin adapters from the Asterisk edges to the engine inbox.

`AmiLink`: every AMI event is translated to a typed fact and submitted; after every (re)login
the live channels are listed (CoreShowChannels) and submitted as one snapshot so the model
matches Asterisk again. `AgiLink`: FastAGI session starts and ends become facts too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Protocol

from acd import events as ev
from hotline_config import AsteriskConfig
from pbx.ami_client import AmiClient
from pbx.translate import TranslationError, channel_snapshot, translate

log = logging.getLogger("pbx.link")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Inbox(Protocol):
    def submit(self, fact: ev.EngineEvent) -> None: ...


class AmiLink:
    def __init__(self, config: AsteriskConfig, inbox: Inbox,
                 now: Callable[[], datetime] = utcnow) -> None:
        self._inbox = inbox
        self._now = now
        self.resyncs = 0
        self.dropped = 0
        self.client = AmiClient(
            config.ami_host, config.ami_port, config.ami_user, config.ami_secret(),
            on_event=self._on_event, on_connected=self._on_connected,
            ping_interval=config.ping_interval, action_timeout=config.action_timeout,
            backoff_max=config.reconnect_max)

    def _on_event(self, event: Any) -> None:
        try:
            fact = translate(event, self._now)
        except TranslationError as exc:
            self.dropped += 1
            log.warning("dropped AMI %s: %s", event.name, exc)
            return
        if fact is not None:
            self._inbox.submit(fact)

    async def _on_connected(self, client: AmiClient) -> None:
        self._inbox.submit(ev.AmiLinkUp(self._now()))
        _, entries = await client.send_list_action("CoreShowChannels")
        channels = []
        for entry in entries:
            try:
                channels.append(channel_snapshot(entry))
            except TranslationError as exc:
                log.warning("resync: skipped a channel: %s", exc)
        self._inbox.submit(ev.ChannelsSnapshot(self._now(), tuple(channels)))
        self.resyncs += 1
        log.info("resynchronised with Asterisk: %d live channel(s)", len(channels))

    async def run(self) -> None:
        await self.client.run()

    async def close(self) -> None:
        await self.client.close()


class AgiLink:
    def __init__(self, inbox: Inbox, now: Callable[[], datetime] = utcnow) -> None:
        self._inbox = inbox
        self._now = now

    def session_started(self, env: Any) -> None:
        dialed = env.params.get("dialed") or env.extension
        self._inbox.submit(ev.AgiSessionStarted(self._now(), env.uniqueid, env.script, dialed))

    def session_ended(self, env: Any, outcome: Any) -> None:
        text = getattr(outcome, "kind", None) or str(outcome)
        self._inbox.submit(ev.AgiSessionEnded(self._now(), env.uniqueid, env.script, text))
