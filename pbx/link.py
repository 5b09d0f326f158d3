"""Thin adapters from the Asterisk edges to the engine inbox.

`AmiLink`: every AMI event is translated to a typed fact and submitted; after every (re)login
the live channels are listed (CoreShowChannels) and submitted as one snapshot so the model
matches Asterisk again. `AgiLink`: FastAGI session starts and ends become facts too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timezone
from typing import Any, Protocol

from acd import events as ev
from acd.lines import LINE_CONTEXT, far_half, line_device
from hotline_config import AsteriskConfig
from pbx.ami_client import AmiActionFailed, AmiClient
from pbx.journal import clear_journal, read_journal
from pbx.translate import TranslationError, channel_snapshot, contact_listed, translate

log = logging.getLogger("pbx.link")

WAITING_CONTEXTS = ("hotline-wait", "hotline-fallback")
HEARTBEATS_IN_FLIGHT = 10  # unanswered heartbeats before the beat pauses (the keep-alive decides)
TALKING_CONTEXTS = ("hotline-connect", "hotline-fallback")  # a citizen bridged here talks to an agent
# how Asterisk answers an action on a channel that no longer exists (Redirect, Setvar)
CHANNEL_GONE = ("channel does not exist", "no such channel")
LINE_RING_SECONDS = 45  # a persistent line rings the agent's phone this long (then it is down)


def caller_gone(exc: Exception) -> bool:
    """Asterisk refused the action because the caller's channel is gone (they hung up)."""
    return isinstance(exc, AmiActionFailed) and any(text in str(exc).lower() for text in CHANNEL_GONE)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)



async def read_contacts(client: Any) -> tuple[ev.ContactListed, ...] | None:
    """Every PJSIP contact and its status (PJSIPShowContacts), for the agents' reachability;
    none registered is an empty list. None when Asterisk would not say (the controller then
    keeps what it knew)."""
    try:
        _, events = await client.send_list_action("PJSIPShowContacts")
    except AmiActionFailed as exc:
        if "no contacts" in str(exc).lower():
            return ()
        log.warning("resync: contacts not listed: %s", exc)
        return None
    return tuple(contact_listed(e) for e in events if e.name == "ContactList")

class Inbox(Protocol):
    def submit(self, fact: Any) -> None: ...


class AmiLink:
    def __init__(self, config: AsteriskConfig, inbox: Inbox, *,
                 settled: Callable[[], Awaitable[None]], live: Callable[[], set[str]],
                 now: Callable[[], datetime] = utcnow, ring_timeout: float = 15.0,
                 threeway_ring_timeout: float = 30.0, record_notice: bool = True,
                 city_zone: str = "Asia/Shanghai") -> None:
        self._inbox = inbox
        self._now = now
        self._settled = settled  # every submitted fact applied and every record stored
        self._live = live  # linkedids of the calls live in the model
        self.journal_cleared = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.resyncs = 0
        self.dropped = 0
        self._heartbeats_pending = 0
        self._heartbeat_sent = 0.0
        self.heartbeat_gap_max = 0.0  # seconds between two heartbeats sent (the beat itself)
        self.heartbeat_rtt_max = 0.0  # seconds until Asterisk's answer to one was read
        self.heartbeat_answered = 0.0  # loop time Asterisk last took one (0: never)
        self.ring_timeout = ring_timeout
        self.threeway_ring_timeout = threeway_ring_timeout
        self.record_notice = record_notice
        self.city_zone = city_zone
        self.client = AmiClient(
            config.ami_host, config.ami_port, config.ami_user, config.ami_secret(),
            on_event=self._on_event, on_connected=self._on_connected,
            on_disconnected=lambda: self._inbox.submit(ev.AmiLinkDown(self._now(), "connection lost")),
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
        # fresh before anything else: a caller taken back from the fallback queue must not find
        # the heartbeat of the controller's previous life and fall straight back
        try:
            await self._beat_now(client)
        except AmiActionFailed as exc:
            log.warning("heartbeat not set at connect: %s", exc)
        # [acd] ring_timeout times the agent's ring ([hotline-connect] reads the global), and
        # threeway_ring_timeout the third party's ([hotline-threeway]); [recordings] notice whether a
        # called-back citizen hears that the call is recorded ([hotline-record-notice]); the city's
        # zone dates the recordings' folders the dialplan names (recordings/naming.py)
        for variable, value in (("HOTLINE_RING_TIMEOUT", str(max(1, round(self.ring_timeout)))),
                                ("HOTLINE_THREEWAY_RING", str(max(1, round(self.threeway_ring_timeout)))),
                                ("HOTLINE_RECORD_NOTICE", "1" if self.record_notice else "0"),
                                ("HOTLINE_CITY_ZONE", self.city_zone)):
            try:
                await client.send_action("Setvar", {"Variable": variable, "Value": value})
            except AmiActionFailed as exc:  # the resync matters more; the dialplan's default stays
                log.warning("%s not set in Asterisk: %s", variable, exc)
        _, entries = await client.send_list_action("CoreShowChannels")
        channels = []
        for entry in entries:
            try:
                channels.append(channel_snapshot(entry))
            except TranslationError as exc:
                log.warning("resync: skipped a channel: %s", exc)
        channels = [await self._with_desk(client, c) for c in channels]
        journal = await read_journal(client)
        contacts = await read_contacts(client)
        self._inbox.submit(ev.ChannelsSnapshot(self._now(), tuple(channels), journal, contacts))
        await self._adopt_waiting(client, channels)
        self.resyncs += 1
        log.info("resynchronised with Asterisk: %d live channel(s), %d journal line(s)",
                 len(channels), len(journal))
        self.journal_cleared += await clear_journal(client, journal, self._live, self._settled)

    async def _with_desk(self, client: AmiClient, channel: ev.ChannelSnapshot) -> ev.ChannelSnapshot:
        """A citizen talking to an agent: the desk the call was for (its wrap-up, its record)."""
        if not channel.bridge_id or channel.context not in TALKING_CONTEXTS or channel.uniqueid != channel.linkedid:
            return channel
        try:
            desk = (await client.send_action("Getvar", {"Channel": channel.channel,
                                                        "Variable": "HOTLINE_DESK"})).get("Value") or ""
        except AmiActionFailed as exc:  # hung up meanwhile
            log.info("resync: no desk for a talking call: %s", exc)
            return channel
        return dataclasses.replace(channel, desk=desk)

    async def _adopt_waiting(self, client: AmiClient, channels: list[ev.ChannelSnapshot]) -> None:
        """Callers who waited while the controller was away: those still in [hotline-wait]
        go back into the ACD at their original place; those that fell back to app_queue and
        are not yet with an agent are taken back into [hotline-wait] first."""
        for channel in channels:
            if channel.context not in WAITING_CONTEXTS or channel.bridge_id:
                continue
            try:
                desk = (await client.send_action("Getvar", {"Channel": channel.channel,
                                                            "Variable": "HOTLINE_DESK"})).get("Value")
                since = (await client.send_action("Getvar", {"Channel": channel.channel,
                                                             "Variable": "HOTLINE_QUEUED_AT"})).get("Value")
                # the intake's decisions, kept on the channel: priority and the caller's open order
                priority = (await client.send_action("Getvar", {"Channel": channel.channel,
                                                                "Variable": "HOTLINE_PRIORITY"})).get("Value")
                order = (await client.send_action("Getvar", {"Channel": channel.channel,
                                                             "Variable": "HOTLINE_OPEN_ORDER"})).get("Value")
                if not desk:
                    continue
                if channel.context == "hotline-fallback":
                    await client.send_action("Redirect", {"Channel": channel.channel,
                                                          "Context": "hotline-wait", "Exten": "s",
                                                          "Priority": "1"})
            except Exception as exc:  # the caller left meanwhile
                log.info("resync: could not adopt %s: %s", channel.channel, exc)
                continue
            self._inbox.submit(ev.CallQueued.adopted(self._now(), channel.uniqueid, channel.linkedid,
                                                     channel.channel, desk, since, priority, order))
            log.info("resync: re-adopted a waiting caller for desk %s", desk)

    async def sweep_journal(self) -> int:
        """Between reconnects: record what the journal holds and clear what is recorded."""
        if not self.client.connected:
            return 0
        journal = await read_journal(self.client)
        if journal:
            self._inbox.submit(ev.CallJournal(self._now(), journal))
        cleared = await clear_journal(self.client, journal, self._live, self._settled)
        self.journal_cleared += cleared
        return cleared

    async def sweep_journal_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep_journal()
            except Exception as exc:  # the next sweep tries again; nothing is deleted unwritten
                log.warning("call journal sweep failed: %s", exc)

    def offer(self, offer: Any) -> None:
        """Connect a waiting caller to the chosen agent: redirect into [hotline-connect]."""
        self._spawn(self._redirect(offer.channel, offer.agent_id, offer.call_id, offer.device))

    async def _redirect(self, channel: str, agent_id: str, call_id: str, device: str) -> None:
        try:
            # set on every offer: a caller offered to an ordinary phone (a Local channel) and
            # back in the queue must not ring that phone again when offered to a softphone
            await self.client.send_action("Setvar", {"Channel": channel, "Variable": "HOTLINE_DEVICE",
                                                    "Value": "" if device == f"PJSIP/{agent_id}" else device})
            await self.client.send_action("Redirect", {"Channel": channel, "Context": "hotline-connect",
                                                      "Exten": agent_id, "Priority": "1"})
        except Exception as exc:  # the caller left meanwhile, or the link is down: nobody's miss
            gone = caller_gone(exc)
            (log.info if gone else log.warning)("could not connect call %s to %s: %s", call_id, agent_id, exc)
            self._inbox.submit(ev.OfferNotSent(self._now(), call_id, agent_id, str(exc), caller_gone=gone))

    def dial_callback(self, dial: Any, ring_seconds: float, callerid: str) -> None:
        """A callback: ring the agent first ([hotline-callback] whispers 回拨 and the desk to
        them, then dials the citizen through the trunk showing the hotline's number)."""
        self._spawn(self._originate_callback(dial, ring_seconds, callerid))

    async def _originate_callback(self, dial: Any, ring_seconds: float, callerid: str) -> None:
        try:
            await self.client.send_action("Originate", {
                "Channel": dial.device, "Context": "hotline-callback", "Exten": dial.number, "Priority": "1",
                "CallerID": f'"回拨 {dial.desk}" <{callerid}>', "Timeout": str(int(ring_seconds * 1000)),
                "Async": "true",
                "Variable": f"HOTLINE_CALLBACK={dial.entry_id},HOTLINE_DESK={dial.desk},HOTLINE_AGENT={dial.agent_id}"})
        except Exception as exc:  # the link is down: not dialed, nobody's miss, no attempt spent
            log.warning("callback %s not dialed through %s: %s", dial.entry_id, dial.agent_id, exc)
            self._inbox.submit(ev.CallbackDialed(self._now(), dial.number, "NOT_SENT"))

    def move_legs(self, move: Any) -> None:
        """A handover's step: Redirect one leg, or two at once (AMI's ExtraChannel), after
        setting the variables the dialplan reads."""
        self._spawn(self._move_legs(move))

    async def _move_legs(self, move: Any) -> None:
        try:
            for channel, name, value in move.variables:
                await self.client.send_action("Setvar", {"Channel": channel, "Variable": name, "Value": value})
            (channel, context, exten), *extra = move.moves
            headers = {"Channel": channel, "Context": context, "Exten": exten, "Priority": "1"}
            if extra:
                headers |= {"ExtraChannel": extra[0][0], "ExtraContext": extra[0][1],
                            "ExtraExten": extra[0][2], "ExtraPriority": "1"}
            await self.client.send_action("Redirect", headers)
        except Exception as exc:  # a leg hung up meanwhile, or the link is down: its events tell
            log.warning("call %s: could not move %s: %s", move.call_id,
                        ", ".join(f"{c} to {ctx}" for c, ctx, _ in move.moves), exc)

    def dial_line(self, line: Any, callerid: str) -> None:
        """An agent's persistent line: ring their phone through the trunk (a Local channel into
        [hotline-seat-line-dial]) and, once answered, run [hotline-seat-line] on the near half,
        named as the ACD chose. Not sent (the link is down, Asterisk refused): the line is down,
        as for a hang-up."""
        self._spawn(self._dial_line(line, callerid))

    async def _dial_line(self, line: Any, callerid: str) -> None:
        try:
            await self.client.send_action("Originate", {
                "Channel": line_device(line.phone), "Context": LINE_CONTEXT, "Exten": line.agent_id,
                "Priority": "1", "ChannelId": line.uniqueid, "OtherChannelId": far_half(line.uniqueid),
                "CallerID": f'"12345" <{callerid}>', "Timeout": str(LINE_RING_SECONDS * 1000), "Async": "true"})
        except Exception as exc:
            log.warning("persistent line of %s not dialed: %s", line.agent_id, exc)
            self._inbox.submit(ev.ChannelHungUp(self._now(), line.uniqueid, line.uniqueid, None,
                                                f"line not dialed: {exc}"))

    def hang_up_line(self, line: Any) -> None:
        self._spawn(self._act("Hangup", {"Channel": line.uniqueid, "Cause": "16"},
                              f"hang-up of {line.agent_id}'s persistent line"))

    def hang_up_leg(self, leg: Any) -> None:
        self._spawn(self._hang_up_leg(leg))

    async def _hang_up_leg(self, leg: Any) -> None:
        try:
            await self.client.send_action("Hangup", {"Channel": leg.channel, "Cause": str(leg.cause)})
        except Exception as exc:
            log.warning("call %s: could not hang up %s (%s): %s", leg.call_id, leg.channel, leg.why, exc)

    # ---- supervision (acd/supervision.py): ChanSpy sessions, emergency hang-ups ----
    def originate_spy(self, spy: Any) -> None:
        """Ring the supervisor's phone; answered, it runs ChanSpy on the agent ([hotline-spy])."""
        self._spawn(self._act("Originate", {
            "Channel": spy.device, "Context": "hotline-spy", "Exten": spy.mode.value, "Priority": "1",
            "CallerID": f'"监听 {spy.mode.value}" <12345>', "Timeout": "30000", "Async": "true",
            "Variable": f"HOTLINE_SPY_TARGET={spy.target_channel},HOTLINE_SPY_SESSION={spy.session_id}"},
            f"monitoring session {spy.session_id}"))

    def redirect_spy(self, spy: Any) -> None:
        """The API's mode switch: the spy channel starts ChanSpy again in the new mode."""
        self._spawn(self._act("Redirect", {"Channel": spy.spyer_channel, "Context": "hotline-spy",
                                           "Exten": spy.mode.value, "Priority": "1"},
                              f"mode switch of session {spy.session_id}"))

    def hangup_channels(self, hangup: Any) -> None:
        for channel in hangup.channels:
            self._spawn(self._act("Hangup", {"Channel": channel, "Cause": str(hangup.cause)}, f"hang-up of {channel}"))

    async def _act(self, action: str, headers: dict[str, str], what: str) -> None:
        try:
            await self.client.send_action(action, headers)
        except Exception as exc:  # the channel went meanwhile, or the link is down
            log.warning("%s: AMI %s failed: %s", what, action, exc)

    async def phone_registered(self, device: str) -> bool:
        """Whether a SIP phone can be rung: its PJSIP endpoint has a reachable contact (AMI
        PJSIPShowEndpoint: the endpoint's DeviceState is not Unavailable, a contact is listed).
        An unknown endpoint or a link that is down: no."""
        technology, _, endpoint = device.partition("/")
        if technology.upper() != "PJSIP" or not endpoint or not self.client.connected:
            return False
        try:
            _, entries = await self.client.send_list_action("PJSIPShowEndpoint", {"Endpoint": endpoint})
        except AmiActionFailed:
            return False
        states = [e.get("DeviceState") for e in entries if e.name == "EndpointDetail"]
        contacts = [e for e in entries if e.name == "ContactStatusDetail"]
        return bool(contacts) and bool(states) and states[0] not in ("Unavailable", "Invalid", "Unknown")

    def refuse(self, refused: Any) -> None:
        """A full desk queue: the caller goes to the desk's static queue, not nowhere."""
        self._spawn(self._to_fallback(refused.channel, refused.call_id))

    async def _to_fallback(self, channel: str, call_id: str) -> None:
        try:
            await self.client.send_action("Redirect", {"Channel": channel, "Context": "hotline-fallback",
                                                      "Exten": "s", "Priority": "1"})
        except Exception as exc:
            log.warning("could not send call %s to the fallback queue: %s", call_id, exc)

    async def heartbeat(self, interval: float = 1.0) -> None:
        """Keep [hotline-wait]'s HOTLINE_HEARTBEAT fresh; when it goes stale, callers fall back.

        Sent on a fixed beat, not one after the other: Asterisk sets the variable when it reads
        the action, but its answer queues behind every event sent before it, and under a call
        storm that took seconds. Waiting for each answer before the next beat stretched the beat
        past the dialplan's 3 s staleness limit and sent every waiting caller to the fallback
        queue while the link was up."""
        loop = asyncio.get_running_loop()
        while True:
            if self.client.connected and self._heartbeats_pending < HEARTBEATS_IN_FLIGHT:
                now = loop.time()
                if self._heartbeat_sent:
                    self.heartbeat_gap_max = max(self.heartbeat_gap_max, now - self._heartbeat_sent)
                self._heartbeat_sent = now
                self._heartbeats_pending += 1
                self._spawn(self._beat(now))
            await asyncio.sleep(interval)

    @staticmethod
    async def _beat_now(client: AmiClient) -> None:
        await client.send_action("Setvar", {"Variable": "HOTLINE_HEARTBEAT", "Value": str(int(time.time()))})

    async def _beat(self, sent: float) -> None:
        try:
            await self._beat_now(self.client)
            self.heartbeat_answered = asyncio.get_running_loop().time()
            self.heartbeat_rtt_max = max(self.heartbeat_rtt_max, self.heartbeat_answered - sent)
        except Exception as exc:
            log.warning("heartbeat not delivered: %s", exc)
        finally:
            self._heartbeats_pending -= 1

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        await self.client.run()

    async def close(self) -> None:
        await self.client.close()


class AgiLink:
    def __init__(self, inbox: Inbox, now: Callable[[], datetime] = utcnow) -> None:
        self._inbox = inbox
        self._now = now
        self.recent: deque[tuple[str, str]] = deque(maxlen=100)  # (script, outcome), for status

    def session_started(self, env: Any) -> None:
        dialed = env.params.get("dialed") or env.extension
        self._inbox.submit(ev.AgiSessionStarted(self._now(), env.uniqueid, env.script, dialed))

    def session_ended(self, env: Any, outcome: Any) -> None:
        text = getattr(outcome, "kind", None) or str(outcome)
        self.recent.append((env.script, text))
        self._inbox.submit(ev.AgiSessionEnded(self._now(), env.uniqueid, env.script, text))
