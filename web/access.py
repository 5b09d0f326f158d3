"""Who may call which API route. Callers' numbers and words are personal data: every /api route
except the OpenAPI document needs a bearer token, and an agent's token reaches only what an agent
at a desk needs (their own seat, work orders, a caller's records), never the hall's live calls,
the callback list or bulk export.

Tokens are kept as SHA-256 digests in a file of lines `<hex digest> <role> <name>` ('#' starts a
comment); an agent token's name is the agent id it acts as. `hotline_pbx.py api-token add` makes
one and shows it once. The aiohttp middleware lives in web/api.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from aiohttp import web

from tickets.files import replace_private

UNAUTHORIZED = "unauthorized"
FORBIDDEN = "forbidden"
BAD_TOKEN_FILE = "bad-token-file"
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


class Role(str, Enum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    INSPECTOR = "inspector"  # 质检员: hears any call's recording (web/recordings.py), nothing else


@dataclass(frozen=True, slots=True)
class Grant:
    """The holder of a valid token: actions they take are recorded under `name`."""

    name: str
    role: Role
    admin: bool = False  # an admin account of the pages (web/sessions.py): a supervisor who manages accounts


GRANT = web.RequestKey("grant", Grant)  # on each request: the holder of its token


class TokenFileError(ValueError):
    def __init__(self, path: str, line: int, detail: str) -> None:
        super().__init__(f"{BAD_TOKEN_FILE}: {path}:{line}: {detail}")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenBook:
    grants: dict[str, Grant]  # by token digest

    def holder(self, authorization: str | None) -> Grant | None:
        """The grant of an `Authorization: Bearer …` header, or None. A header that cannot hold
        a token — not printable ASCII (bytes that are not UTF-8, Chinese text), or longer than
        any token — is no token (a token is URL-safe Base64)."""
        if not authorization or not authorization.isascii() or not authorization.isprintable() \
                or len(authorization) > 512:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        # a dict lookup by digest: the secret itself is never compared byte by byte
        return self.grants.get(digest(token.strip()))

    @classmethod
    def parse(cls, text: str, path: str = "<tokens>") -> TokenBook:
        grants: dict[str, Grant] = {}
        names: set[str] = set()
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 3:
                raise TokenFileError(path, number, "expected '<sha256 hex> <role> <name>'")
            hexdigest, role, name = parts
            if not re.fullmatch(r"[0-9a-f]{64}", hexdigest):
                raise TokenFileError(path, number, "the digest is not 64 hex digits")
            if role not in {r.value for r in Role}:
                raise TokenFileError(path, number, f"role {role!r}: agent, supervisor or inspector")
            if not NAME_PATTERN.fullmatch(name):
                raise TokenFileError(path, number, f"name {name!r}: letters, digits, _ . @ -")
            if hexdigest in grants or name in names:
                raise TokenFileError(path, number, f"{name!r} or its token is listed twice")
            grants[hexdigest] = Grant(name, Role(role))
            names.add(name)
        return cls(grants)

    @classmethod
    def load(cls, path: str) -> TokenBook:
        """An absent file is an empty book: the API then refuses every protected route."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls({})
        return cls.parse(text, path)


def add_token(path: str, role: Role, name: str) -> str:
    """Add a new token for `name` to the file (0600) and return the token, which is stored
    nowhere else. Refuses a name already listed, and a file the controller would not load
    (TokenFileError names the bad line: fix it first)."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"name {name!r}: letters, digits, _ . @ - (1-64)")
    book = TokenBook.load(path)  # raises on a file the controller would not load
    if any(g.name == name for g in book.grants.values()):
        raise ValueError(f"{name!r} already has a token: remove it first")
    token = secrets.token_urlsafe(32)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    if text and not text.endswith("\n"):
        text += "\n"
    _replace(path, text + f"{digest(token)} {role.value} {name}\n")
    return token


def remove_token(path: str, name: str) -> bool:
    """Drop `name`'s line; True if there was one. Comments and other lines are kept. Refuses
    (TokenFileError) a file the controller would not load: a revocation written into such a
    file would only look done."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    TokenBook.parse(text, path)
    lines = text.splitlines(keepends=True)
    kept = [line for line in lines if line.split("#", 1)[0].split()[2:3] != [name]]
    if len(kept) == len(lines):
        return False
    _replace(path, "".join(kept))
    return True


def _replace(path: str, text: str) -> None:
    """Write the whole file anew, 0600, atomically (the controller reads it at any moment),
    after checking it parses."""
    TokenBook.parse(text, path)
    # a folder made here is 0700; one that was there (/etc/hotline-pbx, shared with the
    # config) is left as it is: the file is 0600 and holds digests only
    replace_private(Path(path), text)


# ---- the rules: (method, route) → who may; "own" = an agent only for their own {agent_id} ----
PUBLIC = "public"
AGENT = "agent"
OWN = "own"
SUPERVISOR = "supervisor"
ADMIN = "admin"  # the pages' accounts (web/pages.py)
SIGNED_IN = "signed-in"  # any holder of a token or page session
RECORDINGS = "recordings"  # supervisors and inspectors: any call's; agents: their own (web/recordings.py)

RULES: dict[tuple[str, str], str] = {
    ("GET", "/api/openapi.json"): PUBLIC,
    ("GET", "/api/agents"): AGENT,
    ("GET", "/api/agents/{agent_id}/call"): OWN,
    ("GET", "/api/agents/{agent_id}/day"): OWN,
    ("POST", "/api/agents/{agent_id}/{op}"): OWN,
    ("POST", "/api/agents/{agent_id}/threeway"): OWN,
    ("POST", "/api/agents/{agent_id}/transfer"): OWN,
    ("GET", "/api/agents/{agent_id}/handover"): OWN,
    ("POST", "/api/agents/{agent_id}/handover/{step}"): OWN,
    ("GET", "/api/desks"): AGENT,
    ("GET", "/api/events"): AGENT,  # the live events websocket: filtered by role (events/websocket.py)
    ("GET", "/api/calls"): SUPERVISOR,
    ("GET", "/api/callbacks"): SUPERVISOR,
    ("GET", "/api/callbacks/figures"): SUPERVISOR,
    ("GET", "/api/figures"): SUPERVISOR,
    ("GET", "/api/figures/hourly"): SUPERVISOR,
    ("GET", "/api/callbacks/do-not-call"): SUPERVISOR,
    ("POST", "/api/callbacks/do-not-call"): SUPERVISOR,
    ("DELETE", "/api/callbacks/do-not-call/{number}"): SUPERVISOR,
    ("POST", "/api/callbacks/do-not-call/remove"): SUPERVISOR,
    ("POST", "/api/orders"): AGENT,
    ("GET", "/api/orders"): AGENT,
    ("POST", "/api/orders/search"): AGENT,
    ("GET", "/api/orders.csv"): SUPERVISOR,
    ("GET", "/api/orders/overdue"): AGENT,
    ("GET", "/api/orders/due-soon"): AGENT,
    ("GET", "/api/orders/{number}"): AGENT,
    ("PATCH", "/api/orders/{number}"): AGENT,
    ("POST", "/api/orders/{number}/calls"): AGENT,
    ("POST", "/api/orders/{number}/{action}"): AGENT,
    ("GET", "/api/records"): AGENT,
    ("POST", "/api/records/search"): AGENT,
    ("GET", "/api/catalog"): AGENT,
    # supervision (web/supervision.py): supervisors only
    ("POST", "/api/monitor"): SUPERVISOR,
    ("GET", "/api/monitor"): SUPERVISOR,
    ("POST", "/api/monitor/{session_id}/mode"): SUPERVISOR,
    ("POST", "/api/monitor/{session_id}/stop"): SUPERVISOR,
    ("POST", "/api/supervision/agents/{agent_id}/force"): SUPERVISOR,
    ("POST", "/api/supervision/calls/{linkedid}/hangup"): SUPERVISOR,
    ("GET", "/api/supervision/audit"): SUPERVISOR,
    ("GET", "/api/supervision/blocks"): SUPERVISOR,
    ("POST", "/api/supervision/blocks/{address}/lift"): SUPERVISOR,
    # the pages' session and accounts (web/pages.py)
    ("GET", "/api/session"): SIGNED_IN,
    ("GET", "/api/users"): ADMIN,
    ("POST", "/api/users"): ADMIN,
    ("POST", "/api/users/{name}/{action}"): ADMIN,
    ("GET", "/api/users/audit"): ADMIN,
    # recordings (web/recordings.py): the handlers keep an agent to the calls they took part in
    ("GET", "/api/recordings"): RECORDINGS,
    ("GET", "/api/recordings/{linkedid}"): RECORDINGS,
    ("GET", "/api/recordings/{linkedid}/audio"): RECORDINGS,
    ("GET", "/api/recordings/access"): SUPERVISOR,
    ("GET", "/api/recordings/audit"): SUPERVISOR,
    ("GET", "/api/recordings/holds"): SUPERVISOR,
    ("POST", "/api/recordings/holds"): SUPERVISOR,
    ("POST", "/api/recordings/holds/{number}/release"): SUPERVISOR,
}


def decide(method: str, route: str, grant: Grant | None, agent_id: str | None = None) -> str | None:
    """None if the request may go on, else the error code (unauthorized / forbidden). A route
    without a rule is for supervisors only."""
    rule = RULES.get((method, route), SUPERVISOR)
    if rule == PUBLIC:
        return None
    if grant is None:
        return UNAUTHORIZED
    if rule == ADMIN:
        return None if grant.admin else FORBIDDEN
    if rule == SIGNED_IN:
        return None
    if grant.role is Role.INSPECTOR:  # quality review: recordings only, no live calls, no orders
        return None if rule == RECORDINGS else FORBIDDEN
    if grant.role is Role.SUPERVISOR:
        return None
    if rule in (AGENT, RECORDINGS) or (rule == OWN and agent_id == grant.name):
        return None
    return FORBIDDEN


class TokenFile:
    """The token file, read again when it changes, so `api-token add` and `remove` need no
    restart. A file that becomes unreadable or malformed fails closed: no token is honoured
    until it loads again (a revocation must never be undone by a bad line); `error` says why.
    A change is seen by inode, size, mtime and ctime: a file copied over with its old size and
    mtime (cp -p, rsync -t) still has a new ctime."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[int, int, int, int] | None = None
        self._book = TokenBook({})
        self.error: str | None = None

    def current(self) -> TokenBook:
        try:
            stat = os.stat(self.path)
            stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            try:
                self._book = TokenBook.load(self.path)
                self.error = None
            except (OSError, UnicodeDecodeError, TokenFileError) as exc:
                self._book = TokenBook({})  # fail closed
                self.error = str(exc)  # the caller logs it
            self._stamp = stamp
        return self._book
