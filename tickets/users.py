"""The pages' accounts, browser sessions and login audit in the store (issue 18; the rules are
web/login.py). A session's token is never stored, only its SHA-256 digest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tickets.schema import login_audit, users, web_sessions

ROLES = ("agent", "supervisor", "inspector", "admin")
UNKNOWN_ROLE = "unknown-role"
USER_EXISTS = "user-exists"
UNKNOWN_USER = "unknown-user"


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    display: str
    password_hash: str
    disabled: bool
    created_at: float
    password_changed_at: float


@dataclass(frozen=True, slots=True)
class WebSession:
    token_digest: str
    name: str
    csrf: str
    address: str
    created_at: float
    last_seen_at: float


@dataclass(frozen=True, slots=True)
class LoginEntry:
    at: float
    name: str
    address: str
    outcome: str


class UserError(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


def _user(row: object) -> User:
    r = row._mapping  # type: ignore[attr-defined]
    return User(r["name"], r["role"], r["display"], r["password_hash"], bool(r["disabled"]), _epoch(r["created_at"]),
                _epoch(r["password_changed_at"]))


class UserStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # ---- accounts ----
    async def add(self, name: str, role: str, password_hash: str, display: str, now: float) -> User:
        if role not in ROLES:
            raise UserError(UNKNOWN_ROLE, f"role {role!r}: one of {', '.join(ROLES)}")
        if await self.get(name) is not None:
            raise UserError(USER_EXISTS, f"{name!r} has an account already")
        row = {"name": name, "role": role, "display": display[:64], "password_hash": password_hash,
               "disabled": False, "created_at": _when(now), "password_changed_at": _when(now)}
        async with self.engine.begin() as conn:
            await conn.execute(insert(users), row)
        return User(name, role, display[:64], password_hash, False, now, now)

    async def get(self, name: str) -> User | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.name == name))).first()
        return _user(row) if row is not None else None

    async def all(self) -> list[User]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(users).order_by(users.c.role, users.c.name))).all()
        return [_user(r) for r in rows]

    async def set_password(self, name: str, password_hash: str, now: float) -> None:
        """A new password ends every session of the account."""
        await self._change(name, password_hash=password_hash, password_changed_at=_when(now))
        await self.end_sessions_of(name)

    async def set_disabled(self, name: str, disabled: bool) -> None:
        """Disabling an account ends its sessions at once."""
        await self._change(name, disabled=disabled)
        if disabled:
            await self.end_sessions_of(name)

    async def _change(self, name: str, **values: object) -> None:
        async with self.engine.begin() as conn:
            changed = (await conn.execute(update(users).where(users.c.name == name).values(**values))).rowcount
        if not changed:
            raise UserError(UNKNOWN_USER, f"no account {name!r}")

    # ---- sessions ----
    async def add_session(self, session: WebSession) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(web_sessions), {
                "token_digest": session.token_digest, "name": session.name, "csrf": session.csrf,
                "address": session.address[:45], "created_at": _when(session.created_at),
                "last_seen_at": _when(session.last_seen_at)})

    async def session(self, token_digest: str) -> WebSession | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(web_sessions).where(web_sessions.c.token_digest == token_digest))).first()
        if row is None:
            return None
        r = row._mapping
        return WebSession(r["token_digest"], r["name"], r["csrf"], r["address"], _epoch(r["created_at"]),
                          _epoch(r["last_seen_at"]))

    async def touch(self, token_digest: str, now: float) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(web_sessions).where(web_sessions.c.token_digest == token_digest)
                               .values(last_seen_at=_when(now)))

    async def end_session(self, token_digest: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(web_sessions).where(web_sessions.c.token_digest == token_digest))

    async def end_sessions_of(self, name: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(web_sessions).where(web_sessions.c.name == name))

    # ---- the audit ----
    async def audit(self, at: float, name: str, address: str, outcome: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(login_audit), {"at": _when(at), "name": name[:64], "address": address[:45],
                                                     "outcome": outcome})

    async def audit_log(self, limit: int = 200) -> list[LoginEntry]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(login_audit).order_by(login_audit.c.id.desc()).limit(limit))).all()
        return [LoginEntry(_epoch(r.at), r.name, r.address, r.outcome) for r in rows]
