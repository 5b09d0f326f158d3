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


@pytest.mark.parametrize(("device", "endpoint"), [
    ("PJSIP/agent1001", "agent1001"), ("pjsip/agent1002", "agent1002"),
    ("PJSIP/13800138000@carrier", None), ("PJSIP/carrier/sip:1@127.0.0.1", None),
    ("Local/1001@hotline-seat", None), ("PJSIP/", None), ("SIP/agent1001", None)])
def test_only_a_pjsip_endpoint_of_its_own_has_contacts(device: str, endpoint: str | None) -> None:
    assert pjsip_endpoint(device) == endpoint
