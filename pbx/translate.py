"""AMI events → the engine's typed facts. The only place that knows AMI header names.

Events the controller does not consume translate to None (the manager.conf event filter should
already keep most of them away); a frame missing a header it needs is reported, not guessed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Protocol

from acd import events as ev
from acd import supervision as sv

log = logging.getLogger("pbx.translate")

MISSING_HEADER = "ami-missing-header"


class AmiEventLike(Protocol):
    @property
    def name(self) -> str: ...

    def get(self, key: str, default: str = "") -> str: ...


class TranslationError(ValueError):
    pass


def event_time(event: AmiEventLike, now: Callable[[], datetime]) -> datetime:
    """Asterisk's own clock (Timestamp: epoch.micro, from timestampevents=yes) when present."""
    stamp = event.get("Timestamp")
    if stamp:
        try:
            return datetime.fromtimestamp(float(stamp), tz=timezone.utc)
        except ValueError:
            pass
    return now()


def _need(event: AmiEventLike, key: str) -> str:
    value = event.get(key)
    if not value:
        raise TranslationError(f"{MISSING_HEADER}: {event.name} without {key}")
    return value


def _int(value: str, default: int | None = None) -> int | None:
    try:
        return int(value)
    except ValueError:
        return default


def _cid(value: str) -> str:
    """Asterisk writes '<unknown>' for an absent caller id."""
    return "" if value in ("<unknown>", "unknown") else value


def translate(event: AmiEventLike, now: Callable[[], datetime]) -> ev.EngineEvent | sv.SupervisionFact | None:
    name = event.name
    handler = _TRANSLATORS.get(name)
    if handler is None:
        return None
    return handler(event, event_time(event, now))


def _newchannel(e: AmiEventLike, at: datetime) -> ev.EngineEvent:
    return ev.ChannelCreated(
        at=at, uniqueid=_need(e, "Uniqueid"), linkedid=e.get("Linkedid"), channel=e.get("Channel"),
        state=_int(e.get("ChannelState"), 0) or 0, caller_number=_cid(e.get("CallerIDNum")),
        caller_name=_cid(e.get("CallerIDName")), exten=e.get("Exten"), context=e.get("Context"))


def _newstate(e: AmiEventLike, at: datetime) -> ev.EngineEvent:
    return ev.ChannelStateChanged(at=at, uniqueid=_need(e, "Uniqueid"), linkedid=e.get("Linkedid"),
                                  state=_int(e.get("ChannelState"), 0) or 0)


def _newcallerid(e: AmiEventLike, at: datetime) -> ev.EngineEvent:
    return ev.CallerIdChanged(at=at, uniqueid=_need(e, "Uniqueid"), linkedid=e.get("Linkedid"),
                              caller_number=_cid(e.get("CallerIDNum")),
                              caller_name=_cid(e.get("CallerIDName")))


def _hangup(e: AmiEventLike, at: datetime) -> ev.EngineEvent:
    return ev.ChannelHungUp(at=at, uniqueid=_need(e, "Uniqueid"), linkedid=e.get("Linkedid"),
                            cause=_int(e.get("Cause")), cause_text=e.get("Cause-txt"))


def _bridge_enter(e: AmiEventLike, at: datetime) -> ev.EngineEvent:
    return ev.BridgeEntered(at=at, bridge_id=_need(e, "BridgeUniqueid"),
                            uniqueid=_need(e, "Uniqueid"), linkedid=e.get("Linkedid"),
                            bridge_type=e.get("BridgeType"), swap_uniqueid=e.get("SwapUniqueid"))


def _bridge_leave(e: AmiEventLike, at: datetime) -> ev.EngineEvent:
    return ev.BridgeLeft(at=at, bridge_id=_need(e, "BridgeUniqueid"),
                         uniqueid=_need(e, "Uniqueid"), linkedid=e.get("Linkedid"))


def _contact_status(e: AmiEventLike, at: datetime) -> ev.EngineEvent:
    return ev.ContactChanged(at=at, endpoint=e.get("EndpointName"), uri=e.get("URI"),
                             status=_need(e, "ContactStatus"))


def contact_listed(e: AmiEventLike) -> ev.ContactListed:
    """One PJSIPShowContacts list entry (ContactList)."""
    return ev.ContactListed(endpoint=e.get("Endpoint"), uri=e.get("Uri"), status=e.get("Status"),
                            qualified=(_int(e.get("QualifyFrequency"), 0) or 0) > 0)


def _security(e: AmiEventLike, at: datetime) -> ev.EngineEvent | None:
    """RemoteAddress is IPV4/UDP/10.77.1.2/5060 (or IPV6/…)."""
    parts = e.get("RemoteAddress").split("/")
    if len(parts) < 3 or not parts[2]:
        return None
    return ev.SecurityFailure(at=at, kind=e.name, account=e.get("AccountID"), address=parts[2])


def _bridge_destroy(e: AmiEventLike, at: datetime) -> ev.EngineEvent:
    return ev.BridgeDestroyed(at=at, bridge_id=_need(e, "BridgeUniqueid"))


def _dial_end(e: AmiEventLike, at: datetime) -> ev.EngineEvent | None:
    if not e.get("Uniqueid"):
        return None  # a dial with no calling channel (Originate): no caller to route
    return ev.DialEnded(at=at, uniqueid=_need(e, "Uniqueid"), linkedid=e.get("Linkedid"),
                        dest_channel=e.get("DestChannel"), status=e.get("DialStatus"))


def leg_quality(e: AmiEventLike, at: datetime) -> ev.EngineEvent | None:
    """CHANNEL(rtcp,all) of a leg: `ssrc=…;lp=0;rxjitter=0.00175;rxcount=401;txjitter=…;
    txcount=400;rlp=0;rtt=0.0;rxmes=88.1;txmes=88.1` (seconds, packets). None when the leg had
    no RTP (a Local channel) or the text is not that."""
    figures: dict[str, float] = {}
    for item in e.get("All").split(";"):
        name, _, value = item.partition("=")
        try:
            figures[name.strip()] = float(value)
        except ValueError:
            continue
    if "rxjitter" not in figures or "rxcount" not in figures:
        return None
    lost = max(0.0, figures.get("lp", 0.0)) + max(0.0, figures.get("rlp", 0.0))
    sent = figures["rxcount"] + figures.get("txcount", 0.0)
    mes = [figures[k] for k in ("rxmes", "txmes") if k in figures]
    return ev.LegQuality(at=at, uniqueid=_need(e, "Uniqueid"),
                         jitter_ms=round(1000 * max(figures["rxjitter"], figures.get("txjitter", 0.0)), 1),
                         loss_pct=round(100 * lost / (lost + sent), 2) if lost + sent else 0.0,
                         rtt_ms=round(1000 * figures.get("rtt", 0.0), 1), mes=round(min(mes), 1) if mes else None)


def _user_event(e: AmiEventLike, at: datetime) -> ev.EngineEvent | None:
    """The dialplan's own events: [hotline-fallback]'s and [hotline-callback]'s."""
    if e.get("UserEvent") == "HotlineCallback" and e.get("Number"):
        return ev.CallbackDialed(at=at, number=e.get("Number"), status=e.get("Status"), linkedid=e.get("Linkedid"),
                                 recording=e.get("Recording"))
    if e.get("UserEvent") == "HotlineLegQuality" and e.get("Uniqueid"):
        return leg_quality(e, at)
    if e.get("UserEvent") != "HotlineFallback" or not e.get("Uniqueid"):
        return None
    return ev.CallFellBack(at=at, uniqueid=_need(e, "Uniqueid"), linkedid=e.get("Linkedid"),
                           desk=e.get("Desk"))


def _originate_response(e: AmiEventLike, at: datetime) -> ev.EngineEvent | None:
    """A callback whose agent did not pick up (the dialplan never ran: no UserEvent)."""
    if e.get("Context") != "hotline-callback" or e.get("Response") == "Success":
        return None
    return ev.CallbackDialed(at=at, number=e.get("Exten"), status="AGENT_NOANSWER")


# ---- supervision: ChanSpy sessions and the supervisor's DTMF mode keys ----
def _chanspy_start(e: AmiEventLike, at: datetime) -> sv.SpyStarted:
    return sv.SpyStarted(at=at, spyer_uniqueid=_need(e, "SpyerUniqueid"), spyer_channel=e.get("SpyerChannel"),
                         spyee_uniqueid=e.get("SpyeeUniqueid"), spyee_channel=e.get("SpyeeChannel"),
                         spyee_linkedid=e.get("SpyeeLinkedid"))


def _chanspy_stop(e: AmiEventLike, at: datetime) -> sv.SpyStopped:
    return sv.SpyStopped(at=at, spyer_uniqueid=_need(e, "SpyerUniqueid"))


def _dtmf_end(e: AmiEventLike, at: datetime) -> sv.DtmfReceived | None:
    if e.get("Direction") != "Received":
        return None
    return sv.DtmfReceived(at=at, uniqueid=_need(e, "Uniqueid"), digit=e.get("Digit"))


def _spy_originate(e: AmiEventLike, at: datetime) -> sv.SpyNotAnswered | None:
    if e.get("Response") == "Success":
        return None
    return sv.SpyNotAnswered(at=at, device=e.get("Channel"), reason=e.get("Reason") or e.get("Response"))


def _originate(e: AmiEventLike, at: datetime) -> ev.EngineEvent | sv.SpyNotAnswered | None:
    if e.get("Context") == sv.SPY_CONTEXT:
        return _spy_originate(e, at)
    return _originate_response(e, at)


_TRANSLATORS: dict[str, Callable[[AmiEventLike, datetime], ev.EngineEvent | sv.SupervisionFact | None]] = {
    "DialEnd": _dial_end,
    "UserEvent": _user_event,
    "OriginateResponse": _originate,
    "ChanSpyStart": _chanspy_start,
    "ChanSpyStop": _chanspy_stop,
    "DTMFEnd": _dtmf_end,
    "Newchannel": _newchannel,
    "Newstate": _newstate,
    "NewCallerid": _newcallerid,
    "Hangup": _hangup,
    "BridgeEnter": _bridge_enter,
    "BridgeLeave": _bridge_leave,
    "BridgeDestroy": _bridge_destroy,
    "ContactStatus": _contact_status,
    "InvalidAccountID": _security,
    "ChallengeResponseFailed": _security,
    "InvalidPassword": _security,
    "FailedACL": _security,
}

CONSUMED_EVENTS = frozenset(_TRANSLATORS)


def _duration(text: str) -> int:
    """CoreShowChannel's Duration is HH:MM:SS."""
    try:
        h, m, s = (int(x) for x in text.split(":"))
    except ValueError:
        return 0
    return int(timedelta(hours=h, minutes=m, seconds=s).total_seconds())


def channel_snapshot(e: AmiEventLike) -> ev.ChannelSnapshot:
    """One CoreShowChannel list entry."""
    return ev.ChannelSnapshot(
        uniqueid=_need(e, "Uniqueid"), linkedid=e.get("Linkedid"), channel=e.get("Channel"),
        state=_int(e.get("ChannelState"), 0) or 0, caller_number=_cid(e.get("CallerIDNum")),
        caller_name=_cid(e.get("CallerIDName")), exten=e.get("Exten"), context=e.get("Context"),
        bridge_id=e.get("BridgeId"), seconds_up=_duration(e.get("Duration")))


JOURNAL_FAMILY = "hotline-journal"
BAD_JOURNAL = "bad-journal-entry"


def journal_entry(key: str, value: str) -> ev.JournalEntry:
    """One line of Asterisk's call journal (see [hotline-journal] in extensions.conf):
    key /hotline-journal/<linkedid>, value `v2,arrived,ended,state,cause,dialed,desk,agent,
    fallback,number,name` (the name last: it may hold commas). Lines written by an older
    dialplan (`arrived,ended,state,cause,dialed,number,name`) are still read."""
    linkedid = key.rsplit("/", 1)[-1]
    desk = agent = fallback = ""
    if value.startswith("v2,"):
        fields = value[3:].split(",", 9)
        if not linkedid or len(fields) != 10:
            raise TranslationError(f"{BAD_JOURNAL}: {key}")
        arrived, ended, state, cause, dialed, desk, agent, fallback, number, name = fields
    else:
        fields = value.split(",", 6)
        if not linkedid or len(fields) != 7:
            raise TranslationError(f"{BAD_JOURNAL}: {key}")
        arrived, ended, state, cause, dialed, number, name = fields
    try:
        ended_at = datetime.fromtimestamp(float(ended), tz=timezone.utc)
        arrived_at = datetime.fromtimestamp(float(arrived), tz=timezone.utc) if arrived else ended_at
    except ValueError:
        raise TranslationError(f"{BAD_JOURNAL}: {key} has no valid times") from None
    return ev.JournalEntry(linkedid=linkedid, arrived_at=arrived_at, ended_at=ended_at,
                           answered=state == "Up", cause=_int(cause), dialed_number=dialed,
                           caller_number=_cid(number), caller_name=_cid(name), desk=desk,
                           agent=_agent_of(agent), fell_back=fallback == "1")


def _agent_of(member: str) -> str:
    """HOTLINE_AGENT is the agent id; an app_queue MEMBERNAME may be a device (PJSIP/agent1001)."""
    return member.rsplit("/", 1)[-1]
