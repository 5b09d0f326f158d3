"""Whether an agent's phone can be rung, from Asterisk's PJSIP contacts (acd/reachability.py)."""

from __future__ import annotations

import pytest

from acd.events import ContactListed
from acd.reachability import Contacts, pjsip_endpoint

URI = "sip:agent1001-0x1@127.0.0.1:25064"


def test_a_phone_is_reachable_only_once_its_qualify_answered() -> None:
    contacts = Contacts()
    assert contacts.apply("agent1001", URI, "NonQualified") == {}  # registered, not yet qualified
    assert contacts.apply("agent1001", URI, "Reachable") == {"agent1001": True}
    assert contacts.apply("agent1001", URI, "Updated") == {}  # a re-registration changes nothing
    assert contacts.apply("agent1001", URI, "Unreachable") == {"agent1001": False}
    assert contacts.apply("agent1001", URI, "Reachable") == {"agent1001": True}
    assert contacts.apply("agent1001", URI, "Removed") == {"agent1001": False}
    assert contacts.by_endpoint == {}


def test_one_reachable_contact_of_several_is_enough() -> None:
    contacts = Contacts()
    contacts.apply("agent1001", URI, "Reachable")
    assert contacts.apply("agent1001", URI + "9", "Unreachable") == {}
    assert contacts.apply("agent1001", URI, "Removed") == {"agent1001": False}
    assert contacts.apply("agent1001", URI + "9", "Reachable") == {"agent1001": True}


def test_after_asterisk_restarts_its_restored_contacts_wait_for_their_first_qualify() -> None:
    contacts = Contacts()
    contacts.apply("agent1001", URI, "Reachable")
    listed = (ContactListed("agent1001", URI, "NonQualified", qualified=True),
              ContactListed("agent1002", URI + "2", "Reachable", qualified=True))
    assert contacts.reset(listed, ("agent1001", "agent1002", "agent1003")) == {
        "agent1001": False, "agent1002": True, "agent1003": False}
    assert contacts.apply("agent1001", URI, "Reachable") == {"agent1001": True}


def test_where_the_aor_does_not_qualify_a_registered_contact_is_reachable() -> None:
    contacts = Contacts()
    listed = (ContactListed("agent1001", URI, "NonQualified", qualified=False),)
    assert contacts.reset(listed, ("agent1001",)) == {"agent1001": True}
    contacts.apply("agent1001", URI, "Removed")
    assert contacts.apply("agent1001", URI, "NonQualified") == {"agent1001": True}  # registered again


def test_a_status_without_an_endpoint_changes_nothing() -> None:
    contacts = Contacts()
    assert contacts.apply("", URI, "Reachable") == {} and contacts.by_endpoint == {}


def test_news_of_a_contact_never_seen_makes_nobody_reachable() -> None:
    contacts = Contacts()
    assert contacts.apply("agent1001", URI, "Removed") == {} and contacts.by_endpoint == {}
    assert contacts.apply("agent1001", URI, "Updated") == {}  # refreshed, but never qualified here
    assert not contacts.reachable("agent1001")


@pytest.mark.parametrize(("device", "endpoint"), [
    ("PJSIP/agent1001", "agent1001"), ("pjsip/agent1002", "agent1002"),
    ("PJSIP/13800138000@carrier", None), ("PJSIP/carrier/sip:1@127.0.0.1", None), ("PJSIP/carrier/sip:110", None),
    ("Local/1001@hotline-seat", None), ("PJSIP/", None), ("SIP/agent1001", None)])
def test_only_a_pjsip_endpoint_of_its_own_has_contacts(device: str, endpoint: str | None) -> None:
    assert pjsip_endpoint(device) == endpoint


async def test_an_agents_last_call_with_poor_audio_puts_an_alert_on_them_until_a_good_one() -> None:
    import asyncio
    from datetime import datetime, timezone

    import hotline_config
    from acd import events as ev
    from acd.engine import Engine
    from hotline_pbx import SANDBOX_CONFIG

    engine = Engine({}, acd=hotline_config.load(SANDBOX_CONFIG, env={}).acd)
    runner = asyncio.create_task(engine.run())
    at = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)
    engine.submit(ev.ChannelCreated(at, "u.2", "u.2", "PJSIP/agent1001-00000002", 6, "1001", "", "", "from-agents"))
    engine.submit(ev.LegQuality(at, "u.2", jitter_ms=45.0, loss_pct=1.0, rtt_ms=320.5))
    await engine.drained()
    [one] = [a for a in engine.agents() if a.agent_id == "agent1001"]
    assert one.poor_quality == "jitter 45 ms, round trip 320.5 ms"
    engine.submit(ev.LegQuality(at, "u.2", jitter_ms=3.0, loss_pct=0.0, rtt_ms=20.0))
    await engine.drained()
    assert [a.poor_quality for a in engine.agents() if a.agent_id == "agent1001"] == [""]
    engine.stop()
    await runner
