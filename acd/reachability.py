"""Whether an agent's SIP phone can be rung, as Asterisk's PJSIP contacts say (issue 16).

A home seat's phone can vanish (a router restarted, a laptop closed) without unregistering;
Asterisk notices by its qualify (OPTIONS) and says so in AMI `ContactStatus`. A phone is
reachable while one of its endpoint's contacts answered its last qualify (`Reachable`).
A contact not yet qualified is `NonQualified`: Asterisk says so of a phone that has just
registered (its first qualify follows within milliseconds) and of every contact it restored
from its database after a restart (qualified again only on the AOR's timer, up to
qualify_frequency later, or when the phone re-registers). Until then it is not reachable: after
Asterisk restarts, no agent is offered a call before their phone is heard from again. Only
where the AOR does not qualify at all (qualify_frequency = 0, which PJSIPShowContacts tells)
does a registered contact count as reachable.

Pure: `Contacts.apply` and `Contacts.reset` return the endpoints whose reachability changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from acd.events import ContactListed

# ContactStatus / ContactList statuses
REACHABLE = "Reachable"
NON_QUALIFIED = "NonQualified"
UNREACHABLE = "Unreachable"
UNKNOWN = "Unknown"
CREATED = "Created"
REMOVED = "Removed"
UPDATED = "Updated"  # a registration refreshed: the contact's status is what it was


@dataclass(slots=True)
class Contacts:
    """Each endpoint's contacts (by URI) and whether each can be rung."""

    by_endpoint: dict[str, dict[str, bool]] = field(default_factory=dict)
    unqualified: set[str] = field(default_factory=set)  # endpoints whose AOR does not qualify

    def reachable(self, endpoint: str) -> bool:
        return any(self.by_endpoint.get(endpoint, {}).values())

    def _usable(self, endpoint: str, status: str) -> bool:
        return status == REACHABLE or (status == NON_QUALIFIED and endpoint in self.unqualified)

    def apply(self, endpoint: str, uri: str, status: str) -> dict[str, bool]:
        """One ContactStatus event; the endpoint's new reachability if it changed."""
        if not endpoint:
            return {}
        before = self.reachable(endpoint)
        contacts = self.by_endpoint.setdefault(endpoint, {})
        if status == REMOVED:
            contacts.pop(uri, None)
        elif status == UPDATED:
            contacts.setdefault(uri, False)
        else:
            contacts[uri] = self._usable(endpoint, status)
        if not contacts:
            del self.by_endpoint[endpoint]
        after = self.reachable(endpoint)
        return {endpoint: after} if after != before else {}

    def reset(self, listed: tuple[ContactListed, ...], endpoints: tuple[str, ...]) -> dict[str, bool]:
        """Asterisk's whole list of contacts after a (re)connect: what it does not list is gone.
        Returns the reachability of each of `endpoints` (the agents' phones), changed or not,
        so that what was missed while the link was down is settled."""
        self.by_endpoint = {}
        self.unqualified = {c.endpoint for c in listed if not c.qualified}
        for contact in listed:
            if contact.endpoint:
                self.by_endpoint.setdefault(contact.endpoint, {})[contact.uri] = \
                    self._usable(contact.endpoint, contact.status)
        return {endpoint: self.reachable(endpoint) for endpoint in endpoints}


def pjsip_endpoint(device: str) -> str | None:
    """The PJSIP endpoint an agent's device rings (`PJSIP/agent1001`), or None for another
    kind of device (an ordinary phone through the trunk, a Local channel), whose reachability
    no contact tells."""
    technology, _, rest = device.partition("/")
    if technology.upper() != "PJSIP" or not rest or "/" in rest or "@" in rest:
        return None
    return rest
