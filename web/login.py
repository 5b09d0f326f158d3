"""Logging in to the pages (issue 18): the rules, without I/O.

Who: agents (话务员), supervisors (值班长) and admins, each an account in the store
(tickets/users.py) with an argon2id password hash (argon2-cffi's defaults, RFC 9106's second
recommended profile). A login makes a browser session: a random token in a cookie (HttpOnly,
SameSite=Strict, Secure), kept in the store only as its SHA-256 digest, with its own CSRF token
that every state-changing request must carry. A session ends at logout, after `idle` seconds
without a request, or `absolute` seconds after login, whichever comes first.

Guessing is throttled per account and per address: after `per_account` wrong passwords within
`window` seconds (4 in a minute by default: the fifth try is refused), or `per_address` from one
address, further tries are refused with 429 until the window has passed, without even checking
the password. Every login, failed login, throttled try, logout and expiry is audited.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

LOGIN_FAILED = "login-failed"  # wrong password and unknown account answer the same
LOGIN_THROTTLED = "login-throttled"
CSRF_FAILED = "csrf-failed"
SESSION_EXPIRED = "session-expired"
WEAK_PASSWORD = "weak-password"
MIN_PASSWORD = 10
SESSION_COOKIE = "hotline_session"
LOGIN_CSRF_COOKIE = "hotline_login_csrf"  # the login form's own (double-submit: no session yet)


class Outcome(str, Enum):
    """What the login audit records."""

    LOGIN = "login"
    WRONG_PASSWORD = "wrong-password"
    UNKNOWN_USER = "unknown-user"
    DISABLED = "disabled"
    THROTTLED = "throttled"
    LOGOUT = "logout"
    EXPIRED = "expired"


_HASHER = PasswordHasher()  # argon2id; its parameters travel in each hash
# a hash to check against when the account does not exist: the answer takes as long either way
_NOBODY = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"{WEAK_PASSWORD}: at least {MIN_PASSWORD} characters")
    return _HASHER.hash(password)


def password_matches(stored: str | None, password: str) -> bool:
    """Always runs one argon2 check, so an unknown account is not told apart by time."""
    try:
        return _HASHER.verify(stored or _NOBODY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """True when the hash was made with weaker parameters than today's: hash it anew at login."""
    return _HASHER.check_needs_rehash(stored)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and secrets.compare_digest(a.encode(), b.encode())


@dataclass
class Throttle:
    """Wrong passwords per account and per address within a sliding window."""

    per_account: int = 4
    per_address: int = 20
    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, key: str) -> int:
        times = self._failures.get(key)
        if times is None:
            return 0
        cutoff = self.clock() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0
        return len(times)

    def refused(self, account: str, address: str) -> bool:
        """True when this try must not even be checked."""
        return (self._recent(f"account:{account}") >= self.per_account
                or self._recent(f"address:{address}") >= self.per_address)

    def failed(self, account: str, address: str) -> None:
        now = self.clock()
        for key in (f"account:{account}", f"address:{address}"):
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, account: str) -> None:
        """The account's own count starts again (the address's does not: one address trying
        many accounts stays throttled)."""
        self._failures.pop(f"account:{account}", None)


@dataclass(frozen=True, slots=True)
class SessionLimits:
    idle: float = 30 * 60.0
    absolute: float = 12 * 3600.0

    def expired(self, created: float, last_seen: float, now: float) -> bool:
        return now - last_seen >= self.idle or now - created >= self.absolute
