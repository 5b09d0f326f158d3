"""Facts the engine consumes: what Asterisk and the call flows say happened.

`pbx/` translates AMI frames and AGI sessions into these; raw AMI dicts never get here.
Every fact carries `at`, Asterisk's own event time when it sent one (timestampevents=yes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ChannelCreated:
    at: datetime
    uniqueid: str
    linkedid: str
    channel: str  # e.g. PJSIP/carrier-00000001
    state: int  # Asterisk channel state number (0 down, 4 ring, 6 up …)
    caller_number: str
    caller_name: str
    exten: str
    context: str


@dataclass(frozen=True, slots=True)
class ChannelStateChanged:
    at: datetime
    uniqueid: str
    linkedid: str
    state: int


@dataclass(frozen=True, slots=True)
class CallerIdChanged:
    at: datetime
    uniqueid: str
    linkedid: str
    caller_number: str
    caller_name: str


@dataclass(frozen=True, slots=True)
class ChannelHungUp:
    at: datetime
    uniqueid: str
    linkedid: str
    cause: int | None
    cause_text: str


@dataclass(frozen=True, slots=True)
class BridgeEntered:
    at: datetime
    bridge_id: str
    uniqueid: str
    linkedid: str
    bridge_type: str = ""  # "basic" (Dial, transfers, AMI Bridge), "base" (ConfBridge), "holding"
    swap_uniqueid: str = ""  # the channel this one took the place of (a transfer's swap)


@dataclass(frozen=True, slots=True)
class BridgeLeft:
    at: datetime
    bridge_id: str
    uniqueid: str
    linkedid: str


@dataclass(frozen=True, slots=True)
class BridgeDestroyed:
    at: datetime
    bridge_id: str


@dataclass(frozen=True, slots=True)
class AmiLinkUp:
    """The AMI connection is (re)established; a resync follows."""

    at: datetime


@dataclass(frozen=True, slots=True)
class AmiLinkDown:
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class ChannelSnapshot:
    """One live channel as CoreShowChannel reports it."""

    uniqueid: str
    linkedid: str
    channel: str
    state: int
    caller_number: str
    caller_name: str
    exten: str
    context: str
    bridge_id: str  # "" when not bridged
    seconds_up: int  # Duration: how long the channel has existed
    desk: str = ""  # HOTLINE_DESK of a citizen's channel bridged to an agent (read at resync)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """What Asterisk's dialplan wrote into its own database when a caller's channel hung up
    (asterisk-conf/extensions.conf, [hotline-journal]): the call's record survives even when
    the controller was away for the whole call."""

    linkedid: str
    arrived_at: datetime
    ended_at: datetime
    answered: bool
    cause: int | None
    dialed_number: str
    caller_number: str
    caller_name: str
    desk: str = ""  # HOTLINE_DESK: the caller had been queued for this desk
    agent: str = ""  # who answered (the controller's offer, or an app_queue member)
    fell_back: bool = False  # reached [hotline-fallback]


@dataclass(frozen=True, slots=True)
class ContactListed:
    """One PJSIP contact as PJSIPShowContacts lists it."""

    endpoint: str
    uri: str
    status: str  # Reachable, Unreachable, NonQualified, Unknown
    qualified: bool  # its AOR qualifies it (qualify_frequency > 0)


@dataclass(frozen=True, slots=True)
class ChannelsSnapshot:
    """Everything live in Asterisk right after a reconnect (CoreShowChannels), with the call
    journal Asterisk kept meanwhile."""

    at: datetime
    channels: tuple[ChannelSnapshot, ...]
    journal: tuple[JournalEntry, ...] = ()
    contacts: tuple[ContactListed, ...] | None = None  # PJSIPShowContacts; None: not read


@dataclass(frozen=True, slots=True)
class CallJournal:
    """A periodic read of Asterisk's call journal (between reconnects)."""

    at: datetime
    entries: tuple[JournalEntry, ...]


@dataclass(frozen=True, slots=True)
class AgiSessionStarted:
    at: datetime
    uniqueid: str
    script: str
    dialed_number: str


@dataclass(frozen=True, slots=True)
class AgiSessionEnded:
    at: datetime
    uniqueid: str
    script: str
    outcome: str  # completed | hangup | error | timeout


@dataclass(frozen=True, slots=True)
class CallQueued:
    """The intake flow put the caller in a desk's queue (the channel now waits in Asterisk)."""

    at: datetime
    uniqueid: str  # the caller's channel
    linkedid: str
    channel: str
    desk: str
    priority: int = 2  # acd.routing.Priority: 0 emergency, 1 key enterprise, 2 normal
    queued_epoch: float | None = None  # when re-adopted after a restart: the original time
    recording: str = ""  # the MixMonitor file [hotline-record] will write when an agent answers
    open_order: str = ""  # the caller's open work order (first-contact responsibility)
    preferred_agent: str = ""  # the agent who took that order: offered first if ready
    caller_name: str = ""  # the full display name (SIP From), when Asterisk's caller ID cut it

    @classmethod
    def adopted(cls, at: datetime, uniqueid: str, linkedid: str, channel: str, desk: str, since: str | None,
                priority: str | None, order: str | None) -> CallQueued:
        """A caller found waiting whom the ACD does not hold (after a restart), from what the
        intake kept on the channel: its desk, its queue time, its priority, its open order."""
        try:
            epoch = float(since) if since else None
        except ValueError:
            epoch = None
        return cls(at, uniqueid, linkedid, channel, desk, int(priority) if priority in ("0", "1") else 2,
                   queued_epoch=epoch, open_order=order or "")


@dataclass(frozen=True, slots=True)
class SurveyAnswered:
    """The survey after the agent hung up: asked (score None), then the citizen's rating."""

    at: datetime
    uniqueid: str
    linkedid: str
    score: int | None  # 1 satisfied, 2 basically satisfied, 3 dissatisfied


@dataclass(frozen=True, slots=True)
class CallbackChoice:
    """The waiting caller was offered a callback that keeps their place (virtual hold):
    offered, then accepted (they hang up and are called back when their turn comes) or
    declined (they keep waiting)."""

    at: datetime
    uniqueid: str
    linkedid: str
    choice: str  # offered | accepted | declined


@dataclass(frozen=True, slots=True)
class CallbackDialed:
    """How a callback went, from the dialplan ([hotline-callback]) or AMI's OriginateResponse:
    status AGENT_ANSWERED when the agent picked up (the citizen is being dialed now), then
    Dial's DIALSTATUS for the citizen (ANSWER, NOANSWER, BUSY, CHANUNAVAIL, CONGESTION,
    CANCEL), or AGENT_NOANSWER when the agent's phone was not answered. Never two callbacks to
    one number at once, so the number names the callback."""

    at: datetime
    number: str
    status: str
    linkedid: str = ""
    recording: str = ""  # AGENT_ANSWERED: the file [hotline-callback] records to


@dataclass(frozen=True, slots=True)
class CallFellBack:
    """The dialplan sent the caller to app_queue ([hotline-fallback]'s UserEvent)."""

    at: datetime
    uniqueid: str
    linkedid: str
    desk: str


@dataclass(frozen=True, slots=True)
class DialEnded:
    """AMI DialEnd: how an offer to an agent ended (ANSWER, NOANSWER, BUSY, CHANUNAVAIL …)."""

    at: datetime
    uniqueid: str  # the dialing (caller's) channel
    linkedid: str
    dest_channel: str
    status: str


@dataclass(frozen=True, slots=True)
class OfferNotSent:
    """The Redirect of an offer (or the Originate of a callback) never reached Asterisk, or
    Asterisk refused it: nobody's miss, the call keeps its place."""

    at: datetime
    call_id: str
    agent_id: str
    reason: str
    caller_gone: bool = False  # Asterisk said the caller's channel no longer exists


@dataclass(frozen=True, slots=True)
class TimerFired:
    key: tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class ContactChanged:
    """A SIP phone's contact registered, qualified, unreachable or gone (AMI ContactStatus)."""

    at: datetime
    endpoint: str
    uri: str
    status: str  # Created, Reachable, Unreachable, Removed, Unknown, NonQualified, Updated


@dataclass(frozen=True, slots=True)
class LegQuality:
    """What RTCP said of a phone's leg as it ended ([hotline-leg-quality]'s UserEvent, from
    Asterisk's CHANNEL(rtcp,all)): jitter and round trip in milliseconds, packets lost of those
    expected in percent, and Asterisk's media experience score (0-100)."""

    at: datetime
    uniqueid: str
    jitter_ms: float
    loss_pct: float
    rtt_ms: float
    mes: float | None = None


@dataclass(frozen=True, slots=True)
class SecurityFailure:
    """Asterisk refused someone (AMI security events: InvalidAccountID, ChallengeResponseFailed,
    InvalidPassword, FailedACL): who they said they were and where they came from."""

    at: datetime
    kind: str  # the event's name
    account: str
    address: str  # the remote IP address


EngineEvent = (
    ChannelCreated | ChannelStateChanged | CallerIdChanged | ChannelHungUp | BridgeEntered
    | BridgeLeft | BridgeDestroyed | AmiLinkUp | AmiLinkDown | ChannelsSnapshot | CallJournal
    | AgiSessionStarted | AgiSessionEnded | CallQueued | CallFellBack | SurveyAnswered | CallbackChoice | CallbackDialed | DialEnded
    | OfferNotSent | TimerFired | ContactChanged | LegQuality | SecurityFailure
)
