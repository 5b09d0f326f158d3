"""The callback list's save loop: every entry the engine hands over goes to the store in order;
a failed save is retried with backoff, never dropped (tickets/saves.py)."""

from __future__ import annotations

from callback.book import Entry
from callback.store import CallbackStore
from tickets.saves import SaveLoop


class CallbackSaver(SaveLoop[Entry]):
    def __init__(self, store: CallbackStore) -> None:
        super().__init__(store.save, "callback list", lambda effect: effect.entry)
        self.store = store
