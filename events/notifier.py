"""The fact stream out: one notifier, one method per fact (wazo-calld's shape). Today it writes
each call's arrival and end to the log with the caller's number masked; the live-events issue
adds the websocket, MQTT and metrics behind the same methods."""

from __future__ import annotations

import logging

from acd.acd import AgentChanged, CallAnswered
from acd.commands import CallArrived, CallEnded
from acd.privacy import mask_number

log = logging.getLogger("events.notifier")


class Notifier:
    def __call__(self, fact: object) -> None:
        """The engine's effect handler for every fact it publishes."""
        if isinstance(fact, CallArrived):
            self.call_arrived(fact)
        elif isinstance(fact, CallEnded):
            self.call_ended(fact)
        elif isinstance(fact, CallAnswered):
            self.call_answered(fact)
        elif isinstance(fact, AgentChanged):
            self.agent_changed(fact)

    def call_arrived(self, fact: CallArrived) -> None:
        log.info("call %s arrived: %s -> %s", fact.linkedid, mask_number(fact.caller_number), fact.dialed_number)

    def call_ended(self, fact: CallEnded) -> None:
        log.info("call %s ended: %s", fact.linkedid, fact.disposition)

    def call_answered(self, fact: CallAnswered) -> None:
        log.debug("call %s answered by %s after %.1f s", fact.call_id, fact.agent_id, fact.waited)

    def agent_changed(self, fact: AgentChanged) -> None:
        log.debug("agent %s: %s %s", fact.agent_id, fact.state.value, fact.reason)
