"""Whatever Asterisk bridges, the live model holds each channel in the call of the linkedid
Asterisk last gave it, and each call is recorded once, in the step its last channel left it —
the moment Asterisk's own linkedid ends (its LINKEDID_END). The reference is computed a second
way: a plain map of channel → linkedid, replayed beside the model."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from acd import events as ev
from acd.calls import LiveCalls
from acd.commands import WriteCallRecord

T0 = datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)  # 09:00 in Beijing
CALLS = 4  # each call: an outside caller and one agent leg, both Up


def _uid(call: int, leg: int) -> str:
    return f"pbx-1.{call * 2 + leg}"


operations = st.lists(st.tuples(st.sampled_from(["move", "hangup"]), st.integers(0, CALLS * 2 - 1),
                                st.integers(0, CALLS - 1)), max_size=25)


@given(operations)
def test_every_leg_sits_in_the_call_asterisk_names_and_each_call_ends_once_when_its_last_leg_goes(
        ops: list[tuple[str, int, int]]) -> None:
    model, at = LiveCalls(), T0
    owner: dict[str, str] = {}  # the reference: live channel -> its linkedid
    records: list[str] = []
    for call in range(CALLS):
        for leg in range(2):
            uid = _uid(call, leg)
            at += timedelta(seconds=1)
            name = f"PJSIP/carrier-{call:08x}" if leg == 0 else f"PJSIP/agent100{call}-{call:08x}"
            model.apply(ev.ChannelCreated(at, uid, _uid(call, 0), name, 6, "13800001111", "", "12345", "from-trunk"))
            owner[uid] = _uid(call, 0)
    bridge = 0
    for op, channel, target in ops:
        uid = f"pbx-1.{channel}"
        if uid not in owner:
            continue
        at += timedelta(seconds=1)
        if op == "move":
            linkedid = _uid(target, 0)
            if linkedid not in set(owner.values()):
                continue  # Asterisk only names a linkedid a live channel still holds
            bridge += 1
            effects = model.apply(ev.BridgeEntered(at, f"bridge-{bridge}", uid, linkedid))
            before = set(owner.values())
            owner[uid] = linkedid
        else:
            effects = model.apply(ev.ChannelHungUp(at, uid, owner[uid], 16, "Normal Clearing"))
            before = set(owner.values())
            del owner[uid]
        ended_now = before - set(owner.values())
        written = [e.record for e in effects if isinstance(e, WriteCallRecord)]
        assert sorted(r.linkedid for r in written) == sorted(ended_now)
        assert all(r.ended_at == at for r in written)
        records += [r.linkedid for r in written]
        for linkedid, call in model.calls.items():
            assert set(call.channels) == {u for u, owned in owner.items() if owned == linkedid}
        assert set(model.calls) == set(owner.values())
    assert len(records) == len(set(records))  # never twice
