"""The API's requests and answers as pydantic models: web/routes.py validates every request by
them and writes the OpenAPI document from them, so both say the same.

Text from clients gets the same checks everywhere: a type, a length, no control characters
(new lines and tabs only where prose is expected) and no lone surrogates (no database stores
them); limits are the store's column lengths. Times beyond 1900–2199 are refused: a far date
is a typing error at a hotline, and at year 1 or 9999 a zone shift overflows.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date, datetime, timezone
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints, ValidationInfo,
                      field_validator)

from acd.states import PauseReason
from tickets.workflow import ORDER_TRANSITIONS, FollowUpResult, OrderState

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
PROSE_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
SURROGATE = re.compile(r"[\ud800-\udfff]")
EARLIEST, LATEST = 1900, 2199


def _text_check(control: re.Pattern[str], what: str) -> Any:
    def check(value: str) -> str:
        if SURROGATE.search(value):
            raise ValueError("holds a lone surrogate (not valid Unicode text)")
        if control.search(value):
            raise ValueError(f"holds control characters{what}")
        return value
    return check


_line = _text_check(CONTROL, "")
_prose = _text_check(PROSE_CONTROL, " (only new lines and tabs are allowed)")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("required")
    return value


def _moment(value: datetime) -> datetime:
    """Aware (a time without zone is UTC, as the store keeps it) and within the years a
    hotline's data can hold."""
    if not EARLIEST <= value.year <= LATEST:
        raise ValueError(f"a time between {EARLIEST} and {LATEST}")
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _day(value: date) -> date:
    if not EARLIEST <= value.year <= LATEST:
        raise ValueError(f"a day between {EARLIEST} and {LATEST}")
    return value


def Line(max_length: int) -> Any:
    """One line of text: no control characters."""
    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(_line)]


def Prose(max_length: int) -> Any:
    """Free text: new lines and tabs allowed, other control characters not."""
    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(_prose)]


Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]
PhoneNumber = Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{3,32}$")]
OrderNumber = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,32}$")]
Moment = Annotated[datetime, AfterValidator(_moment)]
Day = Annotated[date, AfterValidator(_day)]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
ACTIONS = tuple(sorted({action for _, action in ORDER_TRANSITIONS}))
Action = Literal[ACTIONS]  # type: ignore[valid-type]
PAUSE_REASONS = tuple(r.value for r in PauseReason
                      if r not in (PauseReason.AUTO_NO_ANSWER, PauseReason.LOGIN, PauseReason.CONNECTION_LOST))


class Request(BaseModel):
    """A request part: unknown fields are refused (a typo never passes silently)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def _catalog_code(kind: str, value: str | None, info: ValidationInfo) -> str | None:
    """A category, topic or department must be a code of the city's tables (web/orders.py
    puts the catalog in the validation context); an empty topic is allowed."""
    catalog = (info.context or {}).get("catalog")
    if catalog is None or not value:
        return value
    codes = {"category": catalog.category_codes, "topic": catalog.topic_codes,
             "department": catalog.department_codes}[kind]()
    if value not in codes:
        raise ValueError(f"one of {', '.join(codes)}" if kind == "category" else f"a {kind} code of GET /api/catalog")
    return value


class OrderFields(Request):
    """The catalog's codes checked with every other field, so one answer names every problem."""

    @field_validator("category", "topic", "department", check_fields=False)
    @classmethod
    def _in_catalog(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _catalog_code(info.field_name or "", value, info)


class Query(BaseModel):
    """Query parameters: unknown ones are ignored, as browsers and proxies add their own."""

    model_config = ConfigDict(extra="ignore")


class Answer(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorBody(Answer):
    error: str = Field(description="a stable code: bad-request, validation-failed, unauthorized, …")
    detail: Any = Field(description="what is wrong; for validation-failed, a message per field")


# ---- agents -----------------------------------------------------------------------------------

class Path(Request):
    """A path's values; one that cannot name anything answers 404 with the code here."""

    not_found: ClassVar[dict[str, str]] = {}


class AgentPath(Path):
    not_found = {"agent_id": "unknown-agent"}
    agent_id: Name


class AgentOpPath(Path):
    not_found = {"agent_id": "unknown-agent", "op": "unknown-operation"}
    agent_id: Name
    op: Literal["login", "ready", "pause", "logout"]


class ThreeWayBody(Request):
    """Bring 110 (119, 120, 122) or a department into the agent's call."""

    kind: Literal["emergency", "department"]
    target: Name  # the emergency number, or the department's code in the catalog
    private: bool = False  # consult first: the citizen holds with music until `join`


class TransferBody(Request):
    kind: Literal["desk", "agent"]
    target: Name  # the desk's name, or the agent's id
    warm: bool = False  # consult first (the agent, or the desk's next ready agent), then complete or cancel


class HandoverStepPath(Path):
    not_found = {"agent_id": "unknown-agent", "step": "unknown-step"}
    agent_id: Name
    step: Literal["join", "complete", "leave", "cancel"]


class HandoverStepView(Answer):
    stage: str
    at: float


class HandoverView(Answer):
    call_id: str
    agent: str
    kind: str
    target: str
    label: str
    private: bool
    stage: str
    reason: str
    started: float
    steps: list[HandoverStepView]


class PauseBody(Request):
    """`reason` for pause; `phone` for login: the agent works from an ordinary phone with this
    number (offers ring it through the trunk and wait for the agent's key 1); `persistent` with
    it: the phone is dialed once, the agent presses 1 once and stays on the line between calls."""

    reason: Literal[PAUSE_REASONS] = "break"  # type: ignore[valid-type]
    phone: str | None = Field(None, pattern=r"^[0-9]{3,20}$")
    persistent: StrictBool = False


class AgentView(Answer):
    agent_id: str
    name: str
    state: str
    reason: str
    since: float = Field(description="epoch seconds of the state's start")
    call_id: str | None
    reachable: bool = Field(True, description="its phone can be rung (a PJSIP contact answered Asterisk's "
                                              "qualify); an unreachable agent keeps their state but is "
                                              "offered no call until the phone is back")
    poor_quality: str = Field("", description="what RTCP said was wrong with the agent's last call "
                                              "(jitter, loss, round trip beyond their limits); empty when fine")
    line: str = Field("", description="an agent on a persistent line: down (offered nothing; ready dials it "
                                      "again), dialing (until they press 1) or up; empty when not on one")


class AgentState(Answer):
    agent: str
    state: str


class OpenOrderView(Answer):
    number: str
    category: str
    topic: str
    state: str
    taken_by: str
    created_at: datetime
    due_at: datetime
    desk: str = ""
    confidential: bool = False


class AgentCallInfo(Answer):
    linkedid: str
    caller_number: str = Field(description="in full: the agent writes the order")
    caller_name: str
    dialed: str
    desk: str
    arrived_at: datetime
    repeat_of: str | None
    open_orders: list[OpenOrderView]
    callback_losses: list[LostCallView] = Field(default_factory=list, description="a callback: the citizen's lost "
                                                "calls it answers (呼损回拨), oldest first; empty otherwise")


class AgentCall(Answer):
    agent: str
    state: str
    call: AgentCallInfo | None


# ---- the hall -----------------------------------------------------------------------------------

class ServiceFiguresView(Answer):
    """acd/kpis.py: offered = citizen calls minus short abandons; rates over offered calls."""

    model_config = ConfigDict(from_attributes=True, extra="allow")
    offered: int
    answered: int
    lost: int
    answer_rate_pct: float | None
    service_level_pct: float | None
    answered_in_target: int
    average_speed_of_answer: float | None
    lost_rate_pct: float | None
    short_abandons: int
    abandoned: int
    abandoned_while_ringing: int
    lost_by: dict[str, int]
    fallback_answered: int
    transferred: int
    callbacks: dict[str, float | int | None]


class DeskToday(ServiceFiguresView):
    waiting: int | None = Field(None, description="callers waiting now (desks only)")
    longest_wait: float | None = Field(None, description="seconds the longest waiter has waited")
    agents: dict[str, int] | None = Field(None, description="the desk's agents by state")


class DayQuery(Query):
    day: Day = Field(description="a local day of the city, YYYY-MM-DD")


class AgentDay(Answer):
    """An agent's local day from their state history (acd/history.py), in seconds."""

    agent: str
    day: str
    timezone: str
    logged_in: float
    ready: float
    offered: float
    on_call: float
    wrap_up: float
    paused: dict[str, float] = Field(description="seconds paused, per reason")
    occupancy: float | None = Field(description="(offered + on call + wrap-up) / (that + ready); none without such time")


class DayFigures(Answer):
    day: str
    timezone: str
    desks: dict[str, ServiceFiguresView]


class HourlyQuery(Query):
    day: Day | None = Field(None, description="a local day of the city, YYYY-MM-DD (default: today)")


class HourlyVolume(Answer):
    """Offered calls per local hour (0–23), the day and the same weekday a week before."""

    day: str
    compared_with: str
    timezone: str
    offered: list[int]
    offered_compared: list[int]


class LiveCall(Answer):
    linkedid: str
    state: str
    caller: str = Field(description="masked")
    dialed: str
    arrived_at: datetime
    channels: list[str]
    bridges: list[str]


class LostCallView(Answer):
    linkedid: str
    reason: str
    waited: float
    at: float


class AttemptView(Answer):
    at: float
    agent: str
    outcome: str


class CallbackEntryView(Answer):
    entry: int
    number: str = Field(description="masked")
    desk: str
    priority: int
    virtual_hold: bool
    dialing: bool
    due_at: float
    lost_calls: list[LostCallView]
    attempts: list[AttemptView]


class CallbackFiguresQuery(Query):
    day: Day | None = Field(None, description="a local day, YYYY-MM-DD; without: today so far, live")


class CallbackFigures(Answer):
    model_config = ConfigDict(from_attributes=True, extra="allow")
    day: str | None
    entries: int
    open: int
    due: int
    dialing: int
    success_rate: float | None
    median_seconds_to_callback: float | None
    lost_call_rate: float | None


class DoNotCallEntry(Answer):
    number: str = Field(description="masked")
    added_at: datetime | None
    added_by: str
    note: str


class DoNotCallBody(Request):
    number: PhoneNumber
    note: Line(200) = ""  # type: ignore[valid-type]


class DoNotCallAdded(Answer):
    number: str
    already_listed: bool
    closed_entry: int | None


class NumberPath(Path):
    not_found = {"number": "not-on-list"}
    number: PhoneNumber


class NumberBody(Request):
    number: PhoneNumber


class DoNotCallRemoved(Answer):
    number: str
    removed: bool


# ---- work orders ----------------------------------------------------------------------------------

class OrderPath(Path):
    not_found = {"number": "unknown-order"}
    number: OrderNumber


class StepPath(Path):
    not_found = {"number": "unknown-order", "action": "unknown-action"}
    number: OrderNumber
    action: Action


class NewOrderBody(OrderFields):
    caller_number: Annotated[Line(64), AfterValidator(_not_blank)]  # type: ignore[valid-type]
    contact_number: Line(64) = ""  # type: ignore[valid-type]
    category: Code
    topic: Line(64) = ""  # type: ignore[valid-type]
    area: Line(128) = ""  # type: ignore[valid-type]
    content: Annotated[Prose(4000), AfterValidator(_not_blank)]  # type: ignore[valid-type]
    by: Name | None = None
    linkedid: Line(64) | None = None  # type: ignore[valid-type]
    confidential: bool = Field(False, description="保密: the citizen asked that their data be kept")


class OrderEdit(OrderFields):
    contact_number: Line(64) | None = None  # type: ignore[valid-type]
    category: Code | None = None
    topic: Line(64) | None = None  # type: ignore[valid-type]
    area: Line(128) | None = None  # type: ignore[valid-type]
    content: Prose(4000) | None = None  # type: ignore[valid-type]
    confidential: bool | None = Field(None, description="保密 on (any agent) or off (supervisors)")
    by: Name | None = None


class StepBody(OrderFields):
    by: Name | None = None
    note: Prose(1000) = ""  # type: ignore[valid-type]
    department: Code | None = Field(None, description="dispatch: a department code of GET /api/catalog")
    follow_up_result: FollowUpResult | None = Field(None, description="follow_up only: the citizen's verdict")


class LinkBody(Request):
    linkedid: Annotated[Line(64), AfterValidator(_not_blank)]  # type: ignore[valid-type]


class Created(Answer):
    number: str


class FieldChangeView(Answer):
    field: str
    old: str | None
    new: str | None


class HistoryLine(Answer):
    at: datetime
    by: str
    action: str
    from_: str = Field(alias="from", serialization_alias="from")
    to: str
    note: str
    changes: list[FieldChangeView] = []

    model_config = ConfigDict(from_attributes=True, populate_by_name=True, serialize_by_alias=True)


class LinkedCallView(Answer):
    linkedid: str
    linked_at: datetime
    reason: str
    recording: str


class OrderCore(Answer):
    """What every answer about an order holds (the store's WorkOrder, or a search row)."""

    number: str
    created_at: datetime
    caller_number: str
    contact_number: str
    category: str
    topic: str
    area: str
    content: str
    department: str | None
    state: OrderState
    follow_up_result: FollowUpResult | None
    due_at: datetime
    linkedid: str | None
    handling: str | None
    taken_by: str
    survey_score: int | None
    confidential: bool = False
    version: int = 1


class OrderView(OrderCore):
    masked: bool = Field(False, description="保密: the numbers and address are masked for this reader")
    history: list[HistoryLine]
    calls: list[LinkedCallView]


class OrderRow(OrderCore):
    """An order as a search lists it (and the CSV export writes it): no history."""

    updated_at: datetime | None


SORTS = Literal["created_at", "due_at", "number"]


class SearchQuery(Query):
    state: OrderState | None = Field(None, description="order state")
    category: Code | None = Field(None, description="request type code")
    caller: PhoneNumber | None = Field(None, description="caller number (POST /api/orders/search keeps it out of URLs)")
    department: Code | None = Field(None, description="department code")
    due_before: Moment | None = Field(None, description="due before this ISO 8601 time")
    due_after: Moment | None = Field(None, description="due at or after this ISO 8601 time")
    overdue: Literal["0", "1"] = Field("0", description="1: open orders past their deadline")
    cursor: Line(512) | None = Field(None, description="next_cursor of the previous page (keyset paging)")  # type: ignore[valid-type]
    sort: SORTS = "created_at"
    order: Literal["asc", "desc"] = "desc"
    limit: int = Field(50, ge=1, le=1000, description="page size")
    offset: int = Field(0, ge=0, le=100_000, description="rows to skip (deep pages: use the cursor)")


class SearchBody(SearchQuery):
    """The same search as a POST body: a caller's number never reaches a proxy's log."""

    model_config = ConfigDict(extra="forbid")


class SearchPage(Answer):
    total: int
    total_exact: bool
    orders: list[OrderRow]
    next_cursor: str | None


class OrderList(Answer):
    orders: list[OpenOrderView]


class DueSoon(Answer):
    within_hours: float
    orders: list[OpenOrderView]


class RecordsQuery(Query):
    caller: PhoneNumber = Field(description="caller number (POST /api/records/search keeps it out of URLs)")


class RecordsBody(Request):
    caller: PhoneNumber


class CallRecordView(Answer):
    linkedid: str
    caller_number: str
    caller_name: str
    dialed_number: str
    arrived_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    disposition: str
    hangup_cause: int | None
    hangup_cause_text: str
    recording: str
    desk: str
    agent: str
    queue_wait: float | None
    talk_time: float | None
    survey_score: int | None
    repeat_caller: bool
    order_number: str
    transferred_to: str
    left_in: str
    callback: str


class Records(Answer):
    records: list[CallRecordView]


class CatalogEntry(Answer):
    code: str
    name: str


class CatalogTopic(CatalogEntry):
    department: str


class DeadlineRule(Answer):
    category: str
    topics: list[str]
    hours: float | None
    working_days: int | None


class CatalogView(Answer):
    categories: list[CatalogEntry]
    topics: list[CatalogTopic]
    departments: list[CatalogEntry]
    deadlines: list[DeadlineRule]
    due_soon_hours: float


class Document(Answer):
    """The OpenAPI document itself."""

    model_config = ConfigDict(extra="allow")
    openapi: str


# ---- supervision (web/supervision.py; acd/supervision.py) -------------------------------------

MONITOR_MODES = Literal["listen", "whisper", "barge"]
SessionId = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,12}-[0-9]{1,9}$")]
Linkedid = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


class MonitorBody(Request):
    agent: Name = Field(description="the agent whose live call to monitor")
    mode: MONITOR_MODES = "listen"
    supervisor: Name | None = Field(None, description="the supervisor whose phone rings (default: the token's name)")


class ModeBody(Request):
    mode: MONITOR_MODES


class SessionPath(Path):
    not_found = {"session_id": "unknown-session"}
    session_id: SessionId


class MonitorQuery(Query):
    supervisor: Name | None = None
    agent: Name | None = None
    linkedid: Linkedid | None = None
    limit: int = Field(100, ge=1, le=1000)


class ModeSpanView(Answer):
    mode: str
    began_at: datetime


class MonitorSessionView(Answer):
    session_id: str
    supervisor: str
    agent: str
    linkedid: str
    source: str = Field(description="api or phone")
    requested_by: str
    requested_at: datetime
    started_at: datetime | None = Field(description="when ChanSpy began (null: not yet, or never)")
    ended_at: datetime | None
    duration: float | None = Field(description="seconds spying, once ended")
    mode: str | None = Field(description="the current (or last) mode")
    modes: list[ModeSpanView] = Field(description="every mode in order, with the time it began")
    end_reason: str
    live: bool


class ForcePath(Path):
    not_found = {"agent_id": "unknown-agent"}
    agent_id: Name


class ForceBody(Request):
    op: Literal["pause", "logout"]
    reason: Annotated[Line(200), AfterValidator(_not_blank)] = Field(  # type: ignore[valid-type]
        description="why (kept in the audit)")
    pause_reason: Literal[PAUSE_REASONS] = Field("break", description="the pause's reason code")  # type: ignore[valid-type]


class ForceAnswer(Answer):
    agent: str
    op: str
    status: str = Field(description="applied, or pending until the agent's call ends")
    state: str
    reason: str = Field(description="the agent's state reason now")


class CallPath(Path):
    not_found = {"linkedid": "unknown-call"}
    linkedid: Linkedid


class HangupBody(Request):
    reason: Annotated[Line(200), AfterValidator(_not_blank)]  # type: ignore[valid-type]


class HangupAnswer(Answer):
    linkedid: str
    channels: list[str]


Target = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]  # an agent, a call, an address


class AuditQuery(Query):
    actor: Name | None = None
    target: Target | None = None
    limit: int = Field(100, ge=1, le=1000)


class AuditView(Answer):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    reason: str
    detail: str


def _address(value: str) -> str:
    """An IPv4 or IPv6 address, written as the firewall and AMI write it."""
    return str(ipaddress.ip_address(value))


class BlockPath(Path):
    not_found = {"address": "not-blocked"}
    address: Annotated[str, AfterValidator(_address)]


class LiftBody(Request):
    reason: Annotated[Line(200), AfterValidator(_not_blank)]  # type: ignore[valid-type]


class BlockedView(Answer):
    """An address the flood guard blocks: since when, until when, what it tried."""

    address: str
    since: datetime
    until: datetime
    failures: int
    accounts: list[str]


# ---- recordings (web/recordings.py, issue 19) -------------------------------------------------
RecordingState = Literal["pending", "done", "failed", "deleted"]


class RecordingQuery(Query):
    day: Day | None = Field(None, description="calls that ended on this local day of the city")
    agent: Name | None = Field(None, description="the agent who answered (an agent sees only their own calls)")
    order: OrderNumber | None = Field(None, description="calls linked to this work order")
    state: RecordingState | None = None
    limit: int = Field(100, ge=1, le=1000)


class RecordingPath(Path):
    not_found = {"linkedid": "unknown-recording"}
    linkedid: Linkedid


class AudioQuery(Query):
    download: bool = Field(False, description="true: as an attachment (Content-Disposition), for saving")


class RecordingView(Answer):
    linkedid: str
    state: RecordingState
    agent: str
    ended_at: datetime
    talk_time: float | None
    format: str
    duration: float | None = Field(description="seconds, as the converted file decodes")
    loudness: float | None = Field(description="dBFS (RMS) of the whole call")
    silent: bool = Field(description="quieter than [recordings] silence_floor: check the phones and MixMonitor")
    sha256: str
    size: int | None
    attempts: int
    error: str
    converted_at: datetime | None
    deleted_at: datetime | None
    orders: list[str] = Field(default_factory=list, description="work orders the call is linked to")
    audio: str = Field("", description="the audio's URL (range requests served) while the file is kept")


class AccessQuery(Query):
    linkedid: Linkedid | None = None
    name: Name | None = None
    limit: int = Field(200, ge=1, le=1000)


class AccessView(Answer):
    at: datetime
    name: str
    role: str
    linkedid: str
    what: str
    byte_range: str
    status: int


class RecordingAuditQuery(Query):
    limit: int = Field(200, ge=1, le=1000)


class RecordingAuditView(Answer):
    at: datetime
    actor: str
    action: str
    target: str
    detail: str


class HoldBody(Request):
    number: OrderNumber
    reason: Annotated[Line(200), AfterValidator(_not_blank)]  # type: ignore[valid-type]


class ReleaseBody(Request):
    reason: Annotated[Line(200), AfterValidator(_not_blank)]  # type: ignore[valid-type]


class HoldPath(Path):
    not_found = {"number": "not-held"}
    number: OrderNumber


class HoldView(Answer):
    number: str
    held_at: datetime
    held_by: str
    reason: str
