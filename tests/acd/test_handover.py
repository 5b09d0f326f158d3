"""Three-way calls and transfers, as the agent and the citizen live them (acd/handover.py).

The promise: the citizen never loses the line. Whatever the third party does — not answering,
busy, hanging up in the consult — the agent is back with them; the call ends on its own only
after somebody else had the citizen; a request the hotline cannot carry out changes nothing.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acd.handover import (CONFERENCE, CONSULT, LEAVE, THREEWAY, WAIT, AgentKeys, CallLegs, HandoverChanged, KeyRequest, Department, HandoverError,
                          HandoverPlan, Handovers, HangUpLeg, Kind, MoveLegs, handover_disposition)
from acd.records import Disposition
from acd.states import HANDOVER_TRANSITIONS, HandoverStage, IllegalTransition

PLAN = HandoverPlan({"110": "公安", "119": "消防"}, emergency_prefix="9",
                    departments={"water": Department("water", "水务集团", "88001234"),
                                 "gas": Department("gas", "燃气集团", "")})
LEGS = CallLegs("call-1", "general", "PJSIP/carrier-1", "PJSIP/agent1001-2", "u-agent", False)


def _moves(effects: list[object]) -> list[tuple[str, str, str]]:
    return [m for e in effects if isinstance(e, MoveLegs) for m in e.moves]


def test_the_agent_brings_110_in_through_the_trunks_prefix_and_the_citizen_waits_in_their_conference() -> None:
    book = Handovers(PLAN)
    handover, effects = book.three_way("agent1001", LEGS, Kind.EMERGENCY, "110", False, 100.0)
    assert (handover.stage, handover.label) == (HandoverStage.DIALING, "公安")
    assert _moves(effects) == [("PJSIP/carrier-1", CONFERENCE, "citizen"), ("PJSIP/agent1001-2", THREEWAY, "o9110")]


@pytest.mark.parametrize(("kind", "target", "code"), [
    (Kind.EMERGENCY, "120", "not-an-emergency-number"),  # this city's table has 110 and 119 only
    (Kind.EMERGENCY, "12345", "not-an-emergency-number"),
    (Kind.DEPARTMENT, "nowhere", "unknown-department"),
    (Kind.DEPARTMENT, "gas", "department-has-no-phone"),
    (Kind.DESK, "market", "wrong-stage"),
])
def test_a_three_way_the_hotline_cannot_dial_is_refused_and_changes_nothing(kind: Kind, target: str, code: str) -> None:
    book = Handovers(PLAN)
    with pytest.raises(HandoverError) as refused:
        book.three_way("agent1001", LEGS, kind, target, False, 100.0)
    assert refused.value.code == code and not book.by_call


def test_no_call_and_twice_at_once_are_refused() -> None:
    book = Handovers(PLAN)
    with pytest.raises(HandoverError, match="no-call"):
        book.three_way("agent1001", None, Kind.EMERGENCY, "110", False, 1.0)
    book.three_way("agent1001", LEGS, Kind.EMERGENCY, "110", False, 1.0)
    for attempt in (lambda: book.three_way("agent1001", LEGS, Kind.EMERGENCY, "119", False, 2.0),
                    lambda: book.cold_transfer("agent1001", LEGS, Kind.DESK, "market", "市场", "market", 2.0),
                    lambda: book.warm_transfer("agent1001", LEGS, Kind.AGENT, "agent1002", "李娜", "PJSIP/agent1002", 2.0)):
        with pytest.raises(HandoverError, match="handover-in-progress"):
            attempt()
    assert book.by_call["call-1"].target == "110"


@pytest.mark.parametrize(("status", "reason"), [("NOANSWER", "no-answer"), ("BUSY", "busy"),
                                                 ("CHANUNAVAIL", "unavailable"), ("CONGESTION", "unavailable")])
def test_110_not_answering_brings_the_agent_back_and_a_new_three_way_moves_only_the_agent(status: str, reason: str) -> None:
    book = Handovers(PLAN)
    book.three_way("agent1001", LEGS, Kind.EMERGENCY, "110", False, 1.0)
    changed = book.on_dial_end("call-1", "u-agent", "", "", status, 31.0)
    handover = book.by_call["call-1"]
    assert (handover.stage, handover.reason) == (HandoverStage.RETURNED, reason) and changed
    again = dataclasses.replace(LEGS, in_conference=True)
    _, effects = book.three_way("agent1001", again, Kind.EMERGENCY, "119", False, 40.0)
    assert _moves(effects) == [("PJSIP/agent1001-2", THREEWAY, "o9119")]  # the citizen stays where they are
    assert [h.target for h in book.ended("call-1")] == ["110", "119"]


def test_a_dial_end_of_another_leg_changes_nothing() -> None:
    book = Handovers(PLAN)
    book.three_way("agent1001", LEGS, Kind.EMERGENCY, "110", False, 1.0)
    assert book.on_dial_end("call-1", "u-someone-else", "u-3", "PJSIP/carrier-3", "ANSWER", 2.0) == []
    assert book.on_dial_end("call-2", "u-agent", "u-3", "PJSIP/carrier-3", "ANSWER", 2.0) == []
    assert book.by_call["call-1"].stage is HandoverStage.DIALING


def test_the_agent_leaves_once_110_has_the_citizen_and_the_call_ends_when_110_hangs_up() -> None:
    book = Handovers(PLAN)
    book.three_way("agent1001", LEGS, Kind.EMERGENCY, "110", False, 1.0)
    book.on_dial_end("call-1", "u-agent", "u-110", "PJSIP/carrier-3", "ANSWER", 5.0)
    assert book.by_call["call-1"].stage is HandoverStage.JOINED
    _, effects = book.step("agent1001", "call-1", "leave", 9.0)
    assert effects == [HangUpLeg("call-1", "PJSIP/agent1001-2", "the agent leaves the three-way call")]
    assert book.by_call["call-1"].stage is HandoverStage.JOINED  # Asterisk's hang-up tells
    book.on_leg_gone("call-1", "u-agent", 9.1)
    handover = book.by_call["call-1"]
    assert handover.stage is HandoverStage.HANDED_OVER
    assert book.alone_effects("call-1", "PJSIP/carrier-1", others_live=True) == ""  # 110 still talks
    assert book.alone_effects("call-1", "PJSIP/carrier-1", others_live=False) == "end"
    assert handover_disposition(handover) is Disposition.TRANSFERRED_TO_110
    assert [s for s, _ in handover.steps] == ["dialing", "joined", "handed_over"]


def test_the_citizen_hanging_up_first_keeps_the_call_the_agents_to_the_end() -> None:
    book = Handovers(PLAN)
    book.three_way("agent1001", LEGS, Kind.DEPARTMENT, "water", False, 1.0)
    book.on_dial_end("call-1", "u-agent", "u-dep", "PJSIP/carrier-4", "ANSWER", 5.0)
    book.on_leg_gone("call-1", "u-citizen", 9.0, citizen=True)
    book.on_leg_gone("call-1", "u-agent", 9.1)  # the conference lets the others go
    handover = book.by_call["call-1"]
    assert handover.stage is HandoverStage.JOINED  # not a handover: the citizen left a three-way


def test_110_hanging_up_while_all_three_talk_leaves_the_agent_with_the_citizen() -> None:
    book = Handovers(PLAN)
    book.three_way("agent1001", LEGS, Kind.EMERGENCY, "110", False, 1.0)
    book.on_dial_end("call-1", "u-agent", "u-110", "PJSIP/carrier-3", "ANSWER", 5.0)
    book.on_leg_gone("call-1", "u-110", 8.0)
    assert (book.by_call["call-1"].stage, book.by_call["call-1"].reason) == (HandoverStage.RETURNED, "third-party-left")


def test_the_agent_hanging_up_while_110_rings_sends_the_citizen_back_to_the_queue_not_away() -> None:
    book = Handovers(PLAN)
    book.three_way("agent1001", LEGS, Kind.EMERGENCY, "110", False, 1.0)
    book.on_leg_gone("call-1", "u-agent", 3.0)
    assert book.by_call["call-1"].stage is HandoverStage.RETURNED
    assert book.alone_effects("call-1", "PJSIP/carrier-1", others_live=False) == "requeue"


def test_a_private_consult_with_a_department_then_join_or_cancel() -> None:
    book = Handovers(PLAN)
    _, effects = book.three_way("agent1001", LEGS, Kind.DEPARTMENT, "water", True, 1.0)
    assert _moves(effects)[1] == ("PJSIP/agent1001-2", THREEWAY, "p88001234")  # no prefix for a department
    with pytest.raises(HandoverError, match="wrong-stage"):
        book.step("agent1001", "call-1", "join", 2.0)  # still ringing
    book.on_dial_end("call-1", "u-agent", "u-dep", "PJSIP/carrier-4", "ANSWER", 4.0)
    assert book.by_call["call-1"].stage is HandoverStage.CONSULTING
    with pytest.raises(HandoverError, match="wrong-stage"):
        book.step("agent1001", "call-1", "leave", 5.0)  # the agent leaves only once all three talk
    _, effects = book.step("agent1001", "call-1", "join", 6.0)
    assert effects[0] == MoveLegs("call-1", (("PJSIP/agent1001-2", CONFERENCE, "party"), ("PJSIP/carrier-4", CONFERENCE, "party")))
    assert book.by_call["call-1"].stage is HandoverStage.JOINED
    assert book.by_call["call-1"].steps[-1] == ("joined", 6.0)
    _, effects = book.step("agent1001", "call-1", "cancel", 7.0)
    assert effects == [HangUpLeg("call-1", "PJSIP/carrier-4", "the agent called it off")]


def test_cancel_while_the_third_party_rings_takes_the_agent_back_to_the_citizen() -> None:
    book = Handovers(PLAN)
    book.three_way("agent1001", LEGS, Kind.EMERGENCY, "110", False, 1.0)
    _, effects = book.step("agent1001", "call-1", "cancel", 2.0)
    assert effects == [MoveLegs("call-1", (("PJSIP/agent1001-2", CONFERENCE, "party"),))]
    assert book.by_call["call-1"].reason == "cancelled"  # before Asterisk says how the dial ended
    book.on_dial_end("call-1", "u-agent", "", "", "CANCEL", 2.1)
    assert (book.by_call["call-1"].stage, book.by_call["call-1"].reason) == (HandoverStage.RETURNED, "cancelled")


def test_only_the_agent_who_started_it_takes_its_steps() -> None:
    book = Handovers(PLAN)
    book.three_way("agent1001", LEGS, Kind.EMERGENCY, "110", False, 1.0)
    with pytest.raises(HandoverError, match="no-handover"):
        book.step("agent1002", "call-1", "cancel", 2.0)
    with pytest.raises(HandoverError, match="no-handover"):
        book.step("agent1001", None, "cancel", 2.0)


def test_a_warm_transfer_consults_the_agent_then_completes_and_the_first_agent_leaves() -> None:
    book = Handovers(PLAN)
    _, effects = book.warm_transfer("agent1001", LEGS, Kind.AGENT, "agent1002", "李娜", "PJSIP/agent1002", 1.0)
    assert _moves(effects) == [("PJSIP/carrier-1", CONFERENCE, "citizen"), ("PJSIP/agent1001-2", CONSULT, "agent1002")]
    assert not [v for e in effects if isinstance(e, MoveLegs) for v in e.variables]  # the usual device
    book.on_dial_end("call-1", "u-agent", "u-b", "PJSIP/agent1002-5", "ANSWER", 3.0)
    _, effects = book.step("agent1001", "call-1", "complete", 5.0)
    assert effects[0] == MoveLegs("call-1", (("PJSIP/agent1002-5", CONFERENCE, "party"), ("PJSIP/agent1001-2", LEAVE, "s")))
    assert book.by_call["call-1"].steps[-1] == ("handed_over", 5.0)
    handover = book.by_call["call-1"]
    assert handover.stage is HandoverStage.HANDED_OVER
    assert handover_disposition(handover) is Disposition.TRANSFERRED_AGENT


def test_a_warm_transfer_to_a_seat_on_another_device_sets_it_for_the_dialplan() -> None:
    _, effects = Handovers(PLAN).warm_transfer("agent1001", LEGS, Kind.AGENT, "agent1009", "x", "Local/9@remote", 1.0)
    assert [v for e in effects if isinstance(e, MoveLegs) for v in e.variables] == [
        ("PJSIP/agent1001-2", "HOTLINE_CONSULT_DEVICE", "Local/9@remote")]


def test_a_cold_transfer_sends_the_citizen_to_the_desks_wait_and_ends_the_agents_leg() -> None:
    book = Handovers(PLAN)
    handover, effects = book.cold_transfer("agent1001", LEGS, Kind.DESK, "market", "市场", "market", 1.0)
    [move] = [e for e in effects if isinstance(e, MoveLegs)]
    assert move.moves == (("PJSIP/carrier-1", WAIT, "s"), ("PJSIP/agent1001-2", LEAVE, "s"))
    assert move.variables == (("PJSIP/carrier-1", "HOTLINE_DESK", "market"),)  # the desk's wait messages
    assert handover.stage is HandoverStage.REQUEUED and not handover.open
    assert book.alone_effects("call-1", "PJSIP/carrier-1", others_live=False) == ""  # it waits in a queue
    assert handover_disposition(handover) is Disposition.TRANSFERRED_DESK


def test_an_emergency_number_of_the_citys_own_is_recorded_as_a_transfer() -> None:
    book = Handovers(HandoverPlan({"12110": "短信报警"}))
    handover, _ = book.three_way("agent1001", LEGS, Kind.EMERGENCY, "12110", False, 1.0)
    assert handover_disposition(handover) is Disposition.TRANSFERRED


def test_the_stage_table_has_no_way_out_of_a_finished_handover() -> None:
    for stage in (HandoverStage.RETURNED, HandoverStage.HANDED_OVER, HandoverStage.REQUEUED):
        assert not [key for key in HANDOVER_TRANSITIONS if key[0] is stage]
    from acd.states import next_handover_stage

    with pytest.raises(IllegalTransition):
        next_handover_stage(HandoverStage.RETURNED, "join")


# ---- the property: whatever happens, the citizen is never left alone to be hung up ----
EVENTS = st.lists(st.sampled_from([
    ("dial", "ANSWER"), ("dial", "NOANSWER"), ("dial", "BUSY"), ("gone", "agent"), ("gone", "third"),
    ("step", "join"), ("step", "leave"), ("step", "cancel"), ("step", "complete")]), max_size=8)


@settings(max_examples=400, deadline=None)
@given(private=st.booleans(), events=EVENTS)
def test_the_call_ends_alone_only_after_someone_else_had_the_citizen(private: bool, events: list[tuple[str, str]]) -> None:
    book = Handovers(PLAN)
    book.three_way("agent1001", LEGS, Kind.DEPARTMENT, "water", private, 0.0)
    third_answered = False
    for n, (what, detail) in enumerate(events, 1):
        stage_before = book.by_call["call-1"].stage
        if what == "dial":
            book.on_dial_end("call-1", "u-agent", "u-dep", "PJSIP/carrier-4", detail, n)
            third_answered |= detail == "ANSWER" and stage_before is HandoverStage.DIALING
        elif what == "gone":
            book.on_leg_gone("call-1", "u-agent" if detail == "agent" else "u-dep", n)
        else:
            try:
                book.step("agent1001", "call-1", detail, n)
            except HandoverError as refused:
                assert book.by_call["call-1"].stage is stage_before, refused  # a refusal changes nothing
        handover = book.by_call["call-1"]
        assert handover.stage.value in {s.value for s in HandoverStage}
        if book.alone_effects("call-1", "PJSIP/carrier-1", others_live=False) == "end":
            assert third_answered, "the citizen was ended alone though nobody else ever had them"


# ---- keys on the agent's phone during the call ----
def _press(keys: AgentKeys, digits: str, uniqueid: str = "u-agent") -> list[KeyRequest]:
    return [r for r in (keys.key(uniqueid, d) for d in digits) if r is not None]


def test_star_seven_and_an_emergency_number_asks_for_the_three_way_once_the_number_is_whole() -> None:
    keys = AgentKeys(("110", "119", "120", "122", "12110"))
    assert _press(keys, "*711") == []
    assert keys.key("u-agent", "0") == KeyRequest("threeway", target="110")
    assert _press(keys, "*7122") == [KeyRequest("threeway", target="122")]
    assert _press(keys, "*712110") == [KeyRequest("threeway", target="12110")]  # a longer city number
    assert _press(keys, "*1*0*9*8") == [KeyRequest("step", step=s) for s in ("join", "leave", "cancel", "complete")]


def test_keys_that_name_nothing_ask_for_nothing_and_each_channel_keeps_its_own() -> None:
    keys = AgentKeys(("110", "119"))
    assert _press(keys, "110") == [] and _press(keys, "*7123") == [] and _press(keys, "*5") == []
    assert _press(keys, "##*") == []
    assert keys.key("u-a", "*") is None and keys.key("u-b", "*") is None
    assert keys.key("u-a", "7") is None and keys.key("u-b", "0") == KeyRequest("step", step="leave")
    assert _press(keys, "119", "u-a") == [KeyRequest("threeway", target="119")]
    keys.key("u-c", "*")
    keys.forget("u-c")
    assert keys.key("u-c", "0") is None  # the star was forgotten with the channel


def test_each_step_is_kept_with_its_time_and_who_asked() -> None:
    book = Handovers(PLAN)
    handover, effects = book.three_way("agent1001", LEGS, Kind.EMERGENCY, "119", False, 1.0)
    assert [e for e in effects if not isinstance(e, MoveLegs)] == [
        HandoverChanged("call-1", "agent1001", Kind.EMERGENCY, "119", HandoverStage.DIALING, "")]
    book.on_dial_end("call-1", "u-agent", "u-119", "PJSIP/carrier-3", "ANSWER", 5.0)
    assert (handover.third_uniqueid, handover.third_channel) == ("u-119", "PJSIP/carrier-3")
    book.on_leg_gone("call-1", "u-agent", 9.0)
    assert handover.steps == [("dialing", 1.0), ("joined", 5.0), ("handed_over", 9.0)]
    assert handover.view() == {"call_id": "call-1", "agent": "agent1001", "kind": "emergency", "target": "119",
                               "label": "消防", "private": False, "stage": "handed_over", "reason": "",
                               "started": 1.0, "steps": [{"stage": "dialing", "at": 1.0}, {"stage": "joined", "at": 5.0},
                                                         {"stage": "handed_over", "at": 9.0}]}
    cold, _ = book.cold_transfer("agent1002", dataclasses.replace(LEGS, call_id="call-2"), Kind.DESK, "market",
                                 "市场", "market", 20.0)
    assert (cold.agent_id, cold.label, cold.private, cold.steps) == ("agent1002", "市场", False,
                                                                     [("dialing", 20.0), ("requeued", 20.0)])


def test_the_agent_hanging_up_in_a_consult_never_leaves_the_citizen_with_nobody() -> None:
    for kind, target in ((Kind.DEPARTMENT, "water"), (Kind.AGENT, "agent1002")):
        book = Handovers(PLAN)
        if kind is Kind.AGENT:
            book.warm_transfer("agent1001", LEGS, kind, target, "李娜", "PJSIP/agent1002", 1.0)
        else:
            book.three_way("agent1001", LEGS, kind, target, True, 1.0)
        book.on_dial_end("call-1", "u-agent", "u-third", "PJSIP/x-1", "ANSWER", 2.0)
        book.on_leg_gone("call-1", "u-agent", 3.0)  # the consult's bridge ends with them
        handover = book.by_call["call-1"]
        assert (handover.stage, handover.reason) == (HandoverStage.RETURNED, "agent-left-consult")
        assert book.alone_effects("call-1", "PJSIP/carrier-1", others_live=False) == "requeue"


def test_a_leg_that_is_neither_the_agent_nor_the_third_party_changes_nothing() -> None:
    book = Handovers(PLAN)
    book.three_way("agent1001", LEGS, Kind.EMERGENCY, "110", False, 1.0)
    assert book.on_leg_gone("call-1", "u-spy", 2.0) == []  # e.g. a supervisor's channel
    book.on_dial_end("call-1", "u-agent", "u-110", "PJSIP/carrier-3", "ANSWER", 3.0)
    assert book.on_leg_gone("call-1", "u-spy", 4.0) == [] and book.on_leg_gone("call-9", "u-agent", 4.0) == []
    assert book.by_call["call-1"].stage is HandoverStage.JOINED
    book.on_leg_gone("call-1", "u-agent", 5.0)
    assert book.on_leg_gone("call-1", "u-110", 6.0) == []  # over: the citizen's hang-up ends the call
    book.three_way("agent1001", dataclasses.replace(LEGS, call_id="call-3"), Kind.EMERGENCY, "110", False, 7.0)
    book.on_leg_gone("call-3", "u-agent", 8.0)
    assert (book.by_call["call-3"].stage, book.by_call["call-3"].reason) == (HandoverStage.RETURNED, "agent-left")


def test_a_call_keeps_every_handover_it_had_in_order() -> None:
    book = Handovers(PLAN)
    book.three_way("agent1001", LEGS, Kind.EMERGENCY, "110", False, 1.0)
    book.on_dial_end("call-1", "u-agent", "", "", "BUSY", 2.0)
    book.three_way("agent1001", LEGS, Kind.EMERGENCY, "119", False, 3.0)
    book.on_dial_end("call-1", "u-agent", "", "", "NOANSWER", 4.0)
    book.cold_transfer("agent1001", LEGS, Kind.DESK, "market", "市场", "market", 5.0)
    assert [(h.target, h.reason) for h in book.ended("call-1")] == [("110", "busy"), ("119", "no-answer"), ("market", "")]
    assert book.ended("call-1") == [] and not book.by_call
