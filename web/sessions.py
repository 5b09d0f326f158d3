"""Browser sessions of the pages (issue 18): login, the session behind a cookie, logout, with the
rules of web/login.py and the accounts of tickets/users.py. The API middleware (web/api.py) asks
`grant_of` for a request without a bearer token; the login routes are web/pages.py.

Sessions live in the store (a controller restart logs nobody out). The last time a session was
seen is written at most once a minute; the idle timeout is counted from that (so it may end up to
a minute late, never early).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from web.access import Grant, Role
from web.login import (Outcome, SessionLimits, Throttle, digest, hash_password, needs_rehash,
                       new_token, password_matches)
from tickets.users import User, UserStore, WebSession

log = logging.getLogger("web.sessions")
TOUCH_EVERY = 60.0  # seconds between writes of a session's last request


@dataclass(frozen=True, slots=True)
class LoginResult:
    outcome: Outcome
    token: str = ""  # the cookie's value (never stored)
    session: WebSession | None = None
    user: User | None = None


def grant_for(user: User) -> Grant:
    """An admin acts with a supervisor's rights on the API, and may manage accounts."""
    if user.role == "admin":
        return Grant(user.name, Role.SUPERVISOR, admin=True)
    return Grant(user.name, Role(user.role))


class Sessions:
    def __init__(self, store: UserStore, *, limits: SessionLimits | None = None, throttle: Throttle | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.store = store
        self.limits = limits or SessionLimits()
        self.throttle = throttle or Throttle()
        self._wall = wall

    def now(self) -> float:
        return self._wall()

    async def login(self, name: str, password: str, address: str) -> LoginResult:
        now = self._wall()
        name = name.strip()
        if self.throttle.refused(name, address):
            await self.store.audit(now, name, address, Outcome.THROTTLED.value)
            log.warning("login throttled for %r from %s", name[:64], address)
            return LoginResult(Outcome.THROTTLED)
        user = await self.store.get(name) if name else None
        if not password_matches(user.password_hash if user else None, password):
            self.throttle.failed(name, address)
            outcome = Outcome.WRONG_PASSWORD if user is not None else Outcome.UNKNOWN_USER
            await self.store.audit(now, name, address, outcome.value)
            log.warning("login failed for %r from %s: %s", name[:64], address, outcome.value)
            return LoginResult(outcome)
        assert user is not None
        if user.disabled:
            await self.store.audit(now, name, address, Outcome.DISABLED.value)
            return LoginResult(Outcome.DISABLED)
        self.throttle.succeeded(name)
        if needs_rehash(user.password_hash):
            await self.store.set_password(name, hash_password(password), now)
        token = new_token()
        session = WebSession(digest(token), name, new_token(), address, now, now)
        await self.store.add_session(session)
        await self.store.audit(now, name, address, Outcome.LOGIN.value)
        log.info("login: %s (%s) from %s", name, user.role, address)
        return LoginResult(Outcome.LOGIN, token, session, user)

    async def current(self, cookie: str | None, address: str) -> tuple[WebSession, User] | None:
        """The live session behind a cookie and its account; an expired one is ended (audited)."""
        if not cookie or len(cookie) > 128 or not cookie.isascii():
            return None
        key = digest(cookie)
        session = await self.store.session(key)
        if session is None:
            return None
        now = self._wall()
        user = await self.store.get(session.name)
        if user is None or user.disabled or self.limits.expired(session.created_at, session.last_seen_at, now):
            await self.store.end_session(key)
            await self.store.audit(now, session.name, address, Outcome.EXPIRED.value)
            return None
        if now - session.last_seen_at >= TOUCH_EVERY:
            await self.store.touch(key, now)
        return session, user

    async def logout(self, session: WebSession, address: str) -> None:
        await self.store.end_session(session.token_digest)
        await self.store.audit(self._wall(), session.name, address, Outcome.LOGOUT.value)
