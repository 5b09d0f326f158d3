"""The intake flow every citizen call starts in (FastAGI script `intake`).

Answer, greet, and — when desks are configured — decide the desk and hand the call to the ACD:
the channel then waits in Asterisk ([hotline-wait]) until the engine connects it. Without desks
(the bare foundation) the call ends after the greeting.

Which desk, first rule that applies:
1. a key enterprise's number → the enterprise desk, with priority;
2. a caller with an open work order (first-contact responsibility, 首接负责) → the desk of the
   call that opened it, and the agent who took it if that agent is ready; the call is linked to
   the order;
3. a menu choice, where the site configured a menu for the dialed number;
4. the dialed number's desk (out of season → general).
Then the night plan / days off: a closed desk hands its calls to the general desk. The night,
the day off (the calendar of the deadlines: weekends and public holidays, but a make-up working
day works) and the season are the city's (`zone`), whatever the host's clock says.

The open-order lookup runs while the greeting plays; a slow or failed lookup never delays the
caller: after the greeting the call is queued with whatever is known by then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from acd.desks import AcdConfig
from acd.events import CallQueued, EngineEvent
from acd.privacy import mask_number
from acd.routing import Priority
from ivr.caller_name import full_name, may_be_cut
from ivr.config import IntakeConfig, Menu
from recordings.naming import recording_name

log = logging.getLogger("ivr.intake")

GREETING = "hotline/greeting"
RECORDED_NOTICE = "hotline/recorded-notice"
# set when the flow ends a call itself; [hotline-intake] sends a caller who has neither this nor a
# desk to the fallback queue (the controller went away mid-greeting)
INTAKE_DONE = "HOTLINE_INTAKE_DONE"

# the caller's From header as sent (PJSIP channels only): it holds the name Asterisk's caller ID cut
FROM_HEADER = "GET FULL VARIABLE ${PJSIP_HEADER(read,From)}"

OpenOrders = Callable[[str], Awaitable[Sequence[Any]]]  # caller number → open orders, newest first
LinkRepeat = Callable[[str, str], Awaitable[Any]]  # (order number, linkedid)


@dataclass(frozen=True, slots=True)
class Routing:
    desk: str
    priority: Priority = Priority.NORMAL
    preferred_agent: str = ""
    open_order: str = ""


def decide(dialed_desk: str, caller: str, menu_desk: str | None, open_order: Any | None,
           intake: IntakeConfig, desks: Sequence[str], now: datetime, holiday: bool) -> Routing:
    """The intake's routing rules (module docstring), pure."""
    if caller in intake.key_enterprises:
        routing = Routing(intake.enterprise_desk, Priority.KEY_ENTERPRISE)
    elif open_order is not None:
        order_desk = getattr(open_order, "desk", "") or menu_desk or dialed_desk
        routing = Routing(order_desk if order_desk in desks else dialed_desk, Priority.NORMAL,
                          str(getattr(open_order, "taken_by", "")), str(open_order.number))
    else:
        routing = Routing(menu_desk or dialed_desk)
    desk = intake.open_desk(routing.desk, now, holiday, general=desks[0] if desks else "general")
    return Routing(desk, routing.priority, routing.preferred_agent, routing.open_order)


def make_intake(submit: Callable[[EngineEvent], None], acd: AcdConfig, intake: IntakeConfig | None = None,
                greeting: str = GREETING, open_orders: OpenOrders | None = None,
                link_repeat: LinkRepeat | None = None,
                is_holiday: Callable[[date], bool] = lambda _: False,
                clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                zone: tzinfo | None = None, record_notice: bool = False) -> Callable[[Any], Awaitable[None]]:
    """`is_holiday(day)`: the holiday plan applies on that (local) day; `zone`: the city's time
    zone (default Asia/Shanghai); `clock`: now, aware (a naive one is taken as UTC);
    `record_notice`: a caller who will reach an agent hears after the greeting that the call is
    recorded ([recordings] notice)."""
    settings = intake or IntakeConfig()
    city = zone or ZoneInfo("Asia/Shanghai")
    desk_names = [d.name for d in acd.desks]

    async def newest_open_order(caller: str) -> Any | None:
        if open_orders is None or not caller.strip():
            return None
        try:
            found = await open_orders(caller)
        except Exception as exc:  # the store is away: the caller is served all the same
            log.warning("open orders of %s not looked up: %s", mask_number(caller), type(exc).__name__)
            return None
        return found[0] if found else None

    async def choose(agi: Any, menu: Menu) -> str | None:
        """Up to two tries; a wrong key or none → the menu's default (None: the number's desk)."""
        for attempt in range(2):
            key = await agi.get_data(f"hotline/{menu.prompt}", int(menu.timeout * 1000), 1)
            desk = menu.desk_for(key)
            if desk is not None:
                return desk
            if attempt == 0:
                await agi.stream_file("hotline/invalid-key" if key else "hotline/no-input")
        return menu.default or None

    async def flow(agi: Any) -> None:
        """A caller who hangs up mid-prompt ends the session (AgiHangup)."""
        await agi.answer()
        dialed = agi.env.params.get("dialed") or agi.env.extension
        now = clock()
        now = (now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)).astimezone(city)
        dialed_desk = acd.desk_for(dialed, now.strftime("%m-%d"))
        caller = agi.env.callerid
        lookup = asyncio.ensure_future(newest_open_order(caller)) if dialed_desk is not None else None
        try:
            await agi.stream_file(greeting)
            if record_notice and dialed_desk is not None:
                await agi.stream_file(RECORDED_NOTICE)
            if dialed_desk is None or lookup is None:
                await agi.set_variable(INTAKE_DONE, "1")  # finished on purpose: no fallback
                await agi.hangup()
                return
            menu = settings.menu_for(dialed)
            menu_desk = await choose(agi, menu) if menu is not None else None
            try:
                open_order = await asyncio.wait_for(asyncio.shield(lookup), settings.lookup_grace)
            except TimeoutError:
                open_order = None
        finally:
            if lookup is not None and not lookup.done():
                lookup.cancel()
        routing = decide(dialed_desk, caller, menu_desk, open_order, settings, desk_names, now,
                         is_holiday(now.date()))
        linkedid = (await agi.command("GET FULL VARIABLE ${CHANNEL(linkedid)}")).data or agi.env.uniqueid
        caller_name = await _full_caller_name(agi)
        queued = datetime.now(timezone.utc)
        recording = recording_name(linkedid, now)  # the city's day of the call; MixMonitor writes it once an agent answers
        await agi.set_variable("HOTLINE_DESK", routing.desk)
        # kept on the channel so a restarted controller can re-adopt the caller in place
        await agi.set_variable("HOTLINE_QUEUED_AT", f"{queued.timestamp():.3f}")
        await agi.set_variable("HOTLINE_RECORDING", recording)
        if routing.priority is not Priority.NORMAL:
            await agi.set_variable("HOTLINE_PRIORITY", str(int(routing.priority)))
        if routing.open_order:
            await agi.set_variable("HOTLINE_OPEN_ORDER", routing.open_order)
            if link_repeat is not None:
                await _link(link_repeat, routing.open_order, linkedid)
        submit(CallQueued(queued, agi.env.uniqueid, linkedid, agi.env.channel, routing.desk,
                          int(routing.priority), recording=recording, open_order=routing.open_order,
                          preferred_agent=routing.preferred_agent, caller_name=caller_name))

    return flow


async def _full_caller_name(agi: Any) -> str:
    """The caller's whole display name when the caller ID may have cut it, from the From header;
    "" when it was not cut or the header cannot be read (not a PJSIP channel, an error reply):
    the call is queued all the same, and a caller who hung up meets it at the next command."""
    name = agi.env.calleridname
    if not may_be_cut(name):
        return ""
    try:
        reply = await agi.command(FROM_HEADER)
    except Exception as exc:
        log.debug("From header of %s not read: %s: %s", agi.env.channel, type(exc).__name__, exc)
        return ""
    if reply.result != 1:
        log.debug("From header of %s not read: result=%s", agi.env.channel, reply.raw_result)
        return ""
    return full_name(name, reply.data)


async def _link(link_repeat: LinkRepeat, order: str, linkedid: str) -> None:
    try:
        await link_repeat(order, linkedid)
    except Exception as exc:  # the record still names the order; an agent can link it by hand
        log.warning("repeat call %s not linked to order %s: %s", linkedid, order, type(exc).__name__)
