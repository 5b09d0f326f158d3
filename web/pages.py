"""The pages' login, logout and home, and the accounts API (issue 18). The rules are
web/login.py, the sessions web/sessions.py; the API middleware (web/api.py) takes the session
cookie for /api requests (CSRF token required on every state-changing one).

- `GET /login`: the form (with its own CSRF token, double-submitted: there is no session yet).
- `POST /login`: name, password, csrf. 303 to `/` with the session cookie; 401 wrong name or
  password (the same answer for both), 403 a disabled account or a missing CSRF token, 429 the
  fifth wrong password within a minute. Every try is in the login audit.
- `POST /logout`: csrf. Ends the session (audited); 303 to /login.
- `GET /`: who is logged in and the pages their role opens.
- `GET /api/session`: the session's name, role and CSRF token, for the pages' scripts.
- `GET|POST /admin`: the accounts page (admins only): the list, a new account, disable or
  enable, a new password; each form with the session's CSRF token.
- `/api/users` (admins only): list, add, disable, enable, set a password; `/api/users/audit`.
"""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from tickets.users import ROLES, UserError
from web.access import GRANT, NAME_PATTERN
from web.login import (CSRF_FAILED, LOGIN_CSRF_COOKIE, LOGIN_FAILED, LOGIN_THROTTLED, SESSION_COOKIE, Outcome,
                       hash_password, new_token, same)
from web.routes import error
from web.sessions import Sessions
from web.text import LANG_COOKIE, language, text

log = logging.getLogger("web.pages")

SESSIONS = web.AppKey("sessions", Sessions)
SESSION = web.RequestKey("session", object)  # the WebSession of a request the cookie authenticated
SECURE_COOKIES = web.AppKey("secure_cookies", bool)
DESK_LABELS = web.AppKey("desk_labels", dict[str, str])
DESK_WRAP_UP = web.AppKey("desk_wrap_up", dict[str, float])
PAGES_BY_ROLE = {"agent": ("desk", "recordings"), "supervisor": ("console", "wallboard", "recordings"),
                 "inspector": ("recordings",), "admin": ("console", "wallboard", "recordings", "admin")}
HEADERS = {"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
           "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
           "X-Content-Type-Options": "nosniff"}
FORM_MAX = 4096  # bytes of a login form
BAD_ACCOUNT = "bad-account"


def address(request: web.Request) -> str:
    return request.remote or "?"


def _page(lang: str, body: str, status: int = 200, wide: bool = False) -> web.Response:
    other = "en" if lang == "zh" else "zh"
    body_class = ' class="wide"' if wide else ""
    document = (f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f'<title>{html.escape(text(lang, "title"))}</title><link rel="stylesheet" href="/static/pages.css">'
                f'</head><body{body_class}><header><h1>{html.escape(text(lang, "title"))}</h1>'
                f'<a class="lang" href="?lang={other}">{html.escape(text(lang, "lang.other"))}</a></header>'
                f'<main>{body}</main></body></html>')
    response = web.Response(text=document, content_type="text/html", status=status, headers=HEADERS)
    response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="Strict", path="/")
    return response


def _lang(request: web.Request) -> str:
    return language(request.query.get("lang"), request.cookies.get(LANG_COOKIE))


def _login_form(request: web.Request, message_key: str = "", status: int = 200) -> web.Response:
    lang = _lang(request)
    token = new_token()
    message = f'<p class="error" role="alert">{html.escape(text(lang, message_key))}</p>' if message_key else ""
    body = (f'<h2>{html.escape(text(lang, "login.heading"))}</h2>{message}'
            f'<form method="post" action="/login" class="login">'
            f'<input type="hidden" name="csrf" value="{token}">'
            f'<label>{html.escape(text(lang, "login.name"))}<input name="name" autocomplete="username" required '
            f'maxlength="64" autofocus></label>'
            f'<label>{html.escape(text(lang, "login.password"))}<input name="password" type="password" '
            f'autocomplete="current-password" required maxlength="256"></label>'
            f'<button type="submit">{html.escape(text(lang, "login.submit"))}</button></form>')
    response = _page(lang, body, status)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/login",
                        secure=request.app[SECURE_COOKIES])
    return response


async def login_page(request: web.Request) -> web.Response:
    return _login_form(request)


async def login(request: web.Request) -> web.StreamResponse:
    if request.content_length is not None and request.content_length > FORM_MAX:
        return error(413, "too-large", "a login form is small")
    form = await request.post()
    name, password, csrf = (str(form.get(k, ""))[:256] for k in ("name", "password", "csrf"))
    if not same(csrf, request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        log.warning("login form from %s without its CSRF token", address(request))
        return _login_form(request, "login.csrf", 403)
    result = await request.app[SESSIONS].login(name, password, address(request))
    if result.outcome is Outcome.THROTTLED:
        response = _login_form(request, "login.throttled", 429)
        response.headers["Retry-After"] = str(int(request.app[SESSIONS].throttle.window))
        response.headers["X-Error"] = LOGIN_THROTTLED
        return response
    if result.outcome is Outcome.DISABLED:
        return _login_form(request, "login.disabled", 403)
    if result.outcome is not Outcome.LOGIN:
        response = _login_form(request, "login.failed", 401)
        response.headers["X-Error"] = LOGIN_FAILED
        return response
    response = web.HTTPSeeOther("/")
    response.set_cookie(SESSION_COOKIE, result.token, httponly=True, samesite="Strict", path="/",
                        secure=request.app[SECURE_COOKIES])
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    raise response


async def _session_of(request: web.Request) -> Any:
    return await request.app[SESSIONS].current(request.cookies.get(SESSION_COOKIE), address(request))


async def logout(request: web.Request) -> web.StreamResponse:
    found = await _session_of(request)
    if found is None:
        raise web.HTTPSeeOther("/login")
    session, _user = found
    form = await request.post()
    if not same(str(form.get("csrf", "")) or request.headers.get("X-CSRF-Token", ""), session.csrf):
        return error(403, CSRF_FAILED, "the form's CSRF token is missing or wrong")
    await request.app[SESSIONS].logout(session, address(request))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


async def home(request: web.Request) -> web.StreamResponse:
    found = await _session_of(request)
    if found is None:
        raise web.HTTPSeeOther("/login")
    session, user = found
    lang = _lang(request)
    links = "".join(f'<li><a href="/{page}">{html.escape(text(lang, f"page.{page}"))}</a></li>'
                    for page in PAGES_BY_ROLE[user.role])
    body = (f'<h2>{html.escape(text(lang, "home.heading"))}</h2>'
            f'<p class="who">{html.escape(text(lang, "home.who"))}: <strong>{html.escape(user.display or user.name)}'
            f'</strong> ({html.escape(text(lang, f"role.{user.role}"))})</p><ul class="pages">{links}</ul>'
            f'<form method="post" action="/logout"><input type="hidden" name="csrf" value="{session.csrf}">'
            f'<button type="submit">{html.escape(text(lang, "home.logout"))}</button></form>')
    return _page(lang, body)


async def _signed_in(request: web.Request, *roles: str) -> Any:
    """The session and account of a page for `roles` (admins open every page); no session: to
    the login; another role: 403, refused here on the server, not only hidden."""
    found = await _session_of(request)
    if found is None:
        raise web.HTTPSeeOther("/login")
    _session, user = found
    if user.role not in roles and user.role != "admin":
        log.warning("page %s refused for %s (%s)", request.path, user.name, user.role)
        lang = _lang(request)  # a page, not the API's JSON (the error middleware turns raised 4xx into JSON)
        return _page(lang, f'<p class="error" role="alert">{html.escape(text(lang, "page.forbidden"))}</p>', 403)
    return found


WALLBOARD_TEXT = ("wall.desk", "wall.waiting", "wall.longest", "wall.agents", "wall.in_target", "wall.answer_rate",
                  "wall.abandoned", "wall.callbacks", "wall.hourly", "wall.today", "wall.last_week", "wall.offline",
                  "wall.all", "state.ready", "state.on_call", "state.offered", "state.wrap_up", "state.paused")
SERVICE_TARGET_PCT = 80.0  # a desk whose 15-s service level today is below this is shown in alarm colours


def _live(lang: str, heading: str, content: str, setup: dict[str, Any], script: str, wide: bool = False) -> web.Response:
    """A page its script keeps live: the heading, the banner shown while the websocket is down,
    the page's own elements, its setup (texts, desks) as JSON data, web/static/live.js and its script."""
    return _page(lang, f'<h2>{html.escape(heading)}</h2>'
                       f'<p id="offline" class="error" role="alert" hidden>{html.escape(text(lang, "wall.offline"))}</p>'
                       f'{content}<script type="application/json" id="setup">'
                       f'{html.escape(json.dumps(setup, ensure_ascii=False), quote=False)}</script>'
                       f'<script src="/static/live.js" defer></script><script src="/static/{script}" defer></script>',
                 wide=wide)


async def wallboard(request: web.Request) -> web.Response:
    """The hall's big screen: no interaction, live over the websocket (web/static/wallboard.js)."""
    signed = await _signed_in(request, "supervisor")
    if isinstance(signed, web.Response):
        return signed
    lang = _lang(request)
    desks = request.app.get(DESK_LABELS, {})
    setup = {"text": {k: text(lang, k) for k in WALLBOARD_TEXT}, "desks": desks, "target_pct": SERVICE_TARGET_PCT}
    content = (f'<table id="desks" class="wall"></table><p id="callbacks" class="callbacks"></p>'
               f'<h3>{html.escape(text(lang, "wall.hourly"))}</h3><div id="hourly"></div>')
    return _live(lang, text(lang, "page.wallboard"), content, setup, "wallboard.js", wide=True)


DESK_TEXT = ("desk.state", "desk.ready", "desk.pause", "desk.logout", "desk.login", "desk.reason", "desk.wrap_up_left",
             "desk.caller", "desk.waited", "desk.desk", "desk.earlier", "desk.none", "desk.order", "desk.category",
             "desk.content", "desk.direct", "desk.dispatch", "desk.department", "desk.save", "desk.saved",
             "desk.threeway", "desk.handover", "desk.error", "desk.keys", "wall.offline", "desk.transfer",
             "desk.callback", "desk.step.join", "desk.step.complete", "desk.step.leave", "desk.step.cancel",
             "loss.abandoned_ivr", "loss.abandoned_queue", "loss.abandoned_ringing", "loss.queue_full",
             "loss.after_hours", "loss.connection_lost",
             "state.logged_out", "state.ready", "state.on_call", "state.offered", "state.wrap_up", "state.paused",
             "reason.break", "reason.meal", "reason.training", "reason.meeting", "reason.after_call_work")


async def desk(request: web.Request) -> web.Response:
    """The agent's desk (web/static/desk.js): their state and its buttons, the screen pop when a
    call is answered, the work order saved against the call, the three-way with 110/119/120/122."""
    signed = await _signed_in(request, "agent")
    if isinstance(signed, web.Response):
        return signed
    session, me = signed
    lang = _lang(request)
    setup = {"text": {k: text(lang, k) for k in DESK_TEXT}, "agent": me.name, "desks": request.app.get(DESK_LABELS, {}),
             "wrap_up": request.app.get(DESK_WRAP_UP, {})}
    content = (f'<section id="seat" aria-live="polite"></section><section id="pop" aria-live="assertive"></section>'
               f'<p class="keys">{html.escape(text(lang, "desk.keys"))}</p>')
    return _live(lang, f'{text(lang, "page.desk")} · {me.display or me.name}', content, setup, "desk.js")


CONSOLE_TEXT = ("console.agents", "console.calls", "console.agent", "console.state", "console.for", "console.phone",
                "console.listen", "console.whisper", "console.barge", "console.force_pause", "console.force_logout",
                "console.why", "console.unreachable", "console.callbacks", "console.do_not_call", "console.alerts",
                "console.caller", "console.dialed", "console.since", "console.none", "console.started",
                "console.blocked", "console.poor", "desk.error", "wall.offline",
                "state.logged_out", "state.ready", "state.on_call", "state.offered", "state.wrap_up", "state.paused",
                "reason.break", "reason.meal", "reason.training", "reason.meeting", "reason.after_call_work",
                "reason.auto_no_answer", "reason.login", "reason.connection_lost")


async def console(request: web.Request) -> web.Response:
    """The supervisor's console (web/static/console.js): every agent and live call, monitoring
    and forced steps, callbacks due, the do-not-call list, alerts."""
    signed = await _signed_in(request, "supervisor")
    if isinstance(signed, web.Response):
        return signed
    lang = _lang(request)
    setup = {"text": {k: text(lang, k) for k in CONSOLE_TEXT}, "desks": request.app.get(DESK_LABELS, {})}
    sections = "".join(f'<h3>{html.escape(text(lang, key))}</h3><div id="{name}"></div>' for key, name in (
        ("console.alerts", "alerts"), ("console.agents", "agents"), ("console.calls", "calls"),
        ("console.callbacks", "callbacks"), ("console.do_not_call", "do-not-call")))
    return _live(lang, text(lang, "page.console"), f'<p id="note" role="status"></p>{sections}', setup, "console.js",
                 wide=True)


RECORDINGS_TEXT = ("rec.day", "rec.agent", "rec.show", "rec.ended", "rec.duration", "rec.loudness", "rec.state",
                   "rec.orders", "rec.play", "rec.download", "rec.silent", "rec.none", "rec.all", "desk.error",
                   "rec.state.pending", "rec.state.done", "rec.state.failed", "rec.state.deleted")


async def recordings_page(request: web.Request) -> web.Response:
    """Recordings (web/static/recordings.js, the API in web/recordings.py): a day's calls, each
    played in the page (the browser asks for ranges as it seeks) or downloaded. Supervisors and
    quality inspectors find any agent's calls; an agent only their own (the API decides)."""
    signed = await _signed_in(request, "agent", "supervisor", "inspector")
    if isinstance(signed, web.Response):
        return signed
    _session, me = signed
    lang = _lang(request)
    from web.recordings import CITY_ZONE

    zone = request.app.get(CITY_ZONE)
    setup = {"text": {k: text(lang, k) for k in RECORDINGS_TEXT}, "zone": zone.key if zone is not None else "Asia/Shanghai",
             "any_agent": me.role != "agent"}
    body = (f'<h2>{html.escape(text(lang, "page.recordings"))}</h2>'
            f'<form id="find" class="find"><label>{html.escape(text(lang, "rec.day"))}<input type="date" name="day"></label>'
            + (f'<label>{html.escape(text(lang, "rec.agent"))}<input name="agent" pattern="[A-Za-z0-9_.@-]{{1,64}}"></label>'
               if me.role != "agent" else "")
            + f'<button type="submit">{html.escape(text(lang, "rec.show"))}</button></form>'
            f'<p id="note" role="status"></p><table id="recordings" class="recordings"></table>'
            f'<audio id="player" controls preload="none"></audio>'
            f'<script type="application/json" id="setup">{html.escape(json.dumps(setup, ensure_ascii=False), quote=False)}'
            f'</script><script src="/static/live.js" defer></script><script src="/static/recordings.js" defer></script>')
    return _page(lang, body, wide=True)


ADMIN_ACTIONS = ("add", "disable", "enable", "password")


async def admin_page(request: web.Request) -> web.Response:
    signed = await _signed_in(request, "admin")
    if isinstance(signed, web.Response):
        return signed
    session, me = signed
    lang = _lang(request)
    note = request.query.get("note", "")
    said = f'<p class="note" role="status">{html.escape(text(lang, note))}</p>' if note in NOTES else ""
    csrf = f'<input type="hidden" name="csrf" value="{session.csrf}">'
    rows = []
    for user in await request.app[SESSIONS].store.all():
        toggle = "enable" if user.disabled else "disable"
        button = ("" if user.name == me.name else
                  f'<form method="post" action="/admin">{csrf}<input type="hidden" name="action" value="{toggle}">'
                  f'<input type="hidden" name="name" value="{html.escape(user.name)}">'
                  f'<button type="submit">{html.escape(text(lang, f"admin.{toggle}"))}</button></form>')
        rows.append(f'<tr><td>{html.escape(user.name)}</td><td>{html.escape(user.display)}</td>'
                    f'<td>{html.escape(text(lang, f"role.{user.role}"))}</td>'
                    f'<td>{html.escape(text(lang, "admin.disabled" if user.disabled else "admin.active"))}</td>'
                    f'<td>{button}</td></tr>')
    roles = "".join(f'<option value="{r}">{html.escape(text(lang, f"role.{r}"))}</option>' for r in ROLES)
    body = (f'<h2>{html.escape(text(lang, "page.admin"))}</h2>{said}'
            f'<table class="users"><thead><tr><th>{html.escape(text(lang, "login.name"))}</th>'
            f'<th>{html.escape(text(lang, "admin.display"))}</th><th>{html.escape(text(lang, "admin.role"))}</th>'
            f'<th>{html.escape(text(lang, "admin.status"))}</th><th></th></tr></thead><tbody>{"".join(rows)}</tbody>'
            f'</table><h3>{html.escape(text(lang, "admin.new"))}</h3>'
            f'<form method="post" action="/admin" class="login">{csrf}<input type="hidden" name="action" value="add">'
            f'<label>{html.escape(text(lang, "login.name"))}<input name="name" required maxlength="64"></label>'
            f'<label>{html.escape(text(lang, "admin.display"))}<input name="display" maxlength="64"></label>'
            f'<label>{html.escape(text(lang, "admin.role"))}<select name="role">{roles}</select></label>'
            f'<label>{html.escape(text(lang, "login.password"))}<input name="password" type="password" required '
            f'minlength="10" maxlength="256" autocomplete="new-password"></label>'
            f'<button type="submit">{html.escape(text(lang, "admin.add"))}</button></form>'
            f'<h3>{html.escape(text(lang, "admin.reset"))}</h3>'
            f'<form method="post" action="/admin" class="login">{csrf}'
            f'<input type="hidden" name="action" value="password">'
            f'<label>{html.escape(text(lang, "login.name"))}<input name="name" required maxlength="64"></label>'
            f'<label>{html.escape(text(lang, "admin.new_password"))}<input name="password" type="password" required '
            f'minlength="10" maxlength="256" autocomplete="new-password"></label>'
            f'<button type="submit">{html.escape(text(lang, "admin.set_password"))}</button></form>')
    return _page(lang, body)


NOTES = ("admin.done", "admin.exists", "admin.weak", "admin.unknown", "admin.bad", "admin.self")


async def admin_post(request: web.Request) -> web.StreamResponse:
    signed = await _signed_in(request, "admin")
    if isinstance(signed, web.Response):
        return signed
    session, me = signed
    if request.content_length is not None and request.content_length > FORM_MAX:
        return error(413, "too-large", "an account form is small")
    form = await request.post()
    if not same(str(form.get("csrf", "")), session.csrf):
        return error(403, CSRF_FAILED, "the form's CSRF token is missing or wrong")
    action, name = str(form.get("action", "")), str(form.get("name", "")).strip()
    sessions = request.app[SESSIONS]
    note = "admin.done"
    try:
        if action not in ADMIN_ACTIONS or not NAME_PATTERN.fullmatch(name):
            note = "admin.bad"
        elif action == "add":
            role = str(form.get("role", ""))
            await sessions.store.add(name, role, hash_password(str(form.get("password", ""))[:256]),
                                     str(form.get("display", ""))[:64], sessions.now())
        elif action == "password":
            await sessions.store.set_password(name, hash_password(str(form.get("password", ""))[:256]), sessions.now())
        elif name == me.name:
            note = "admin.self"
        else:
            await sessions.store.set_disabled(name, action == "disable")
    except UserError as exc:
        note = {"user-exists": "admin.exists", "unknown-user": "admin.unknown"}.get(exc.code, "admin.bad")
    except ValueError:
        note = "admin.weak"
    if note == "admin.done":
        log.info("account %s: %s by %s (admin page)", name, action, me.name)
    raise web.HTTPSeeOther(f"/admin?note={note}")


# ---- the API of the pages ----

async def session_info(request: web.Request) -> web.Response:
    grant = request[GRANT]
    session = request.get(SESSION)
    return web.json_response({"name": grant.name, "role": "admin" if grant.admin else grant.role.value,
                              "csrf": getattr(session, "csrf", ""),
                              "idle_timeout": request.app[SESSIONS].limits.idle})


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(pattern=NAME_PATTERN.pattern)
    role: StrictStr
    display: StrictStr = Field(default="", max_length=64)
    password: StrictStr = Field(min_length=1, max_length=256)


class NewPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: StrictStr = Field(min_length=1, max_length=256)


def _user_view(user: Any) -> dict[str, Any]:
    return {"name": user.name, "role": user.role, "display": user.display, "disabled": user.disabled,
            "created_at": user.created_at, "password_changed_at": user.password_changed_at}


async def _json(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as exc:
        raise _Refused(400, "validation-failed", "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                                          for e in exc.errors(include_url=False))) from None


class _Refused(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        self.answer = error(status, code, detail)


async def users_list(request: web.Request) -> web.Response:
    return web.json_response([_user_view(u) for u in await request.app[SESSIONS].store.all()])


async def users_add(request: web.Request) -> web.Response:
    sessions = request.app[SESSIONS]
    try:
        new = await _json(request, NewUser)
        if new.role not in ROLES:
            return error(400, BAD_ACCOUNT, f"role: one of {', '.join(ROLES)}")
        user = await sessions.store.add(new.name, new.role, hash_password(new.password), new.display, sessions.now())
    except _Refused as refused:
        return refused.answer
    except UserError as exc:
        return error(409 if exc.code == "user-exists" else 400, exc.code, str(exc))
    except ValueError as exc:  # a weak password
        return error(400, str(exc).split(":")[0], str(exc))
    log.info("account %s (%s) added by %s", user.name, user.role, request[GRANT].name)
    return web.json_response(_user_view(user), status=201)


async def users_action(request: web.Request) -> web.Response:
    sessions, name, action = request.app[SESSIONS], request.match_info["name"], request.match_info["action"]
    try:
        if action == "password":
            new = await _json(request, NewPassword)
            await sessions.store.set_password(name, hash_password(new.password), sessions.now())
        elif action in ("disable", "enable"):
            if action == "disable" and name == request[GRANT].name:
                return error(409, BAD_ACCOUNT, "an admin cannot disable their own account")
            await sessions.store.set_disabled(name, action == "disable")
        else:
            return error(404, "unknown-action", "password, disable or enable")
    except _Refused as refused:
        return refused.answer
    except UserError as exc:
        return error(404, exc.code, str(exc))
    except ValueError as exc:
        return error(400, str(exc).split(":")[0], str(exc))
    log.info("account %s: %s by %s", name, action, request[GRANT].name)
    user = await sessions.store.get(name)
    return web.json_response(_user_view(user))


async def users_audit(request: web.Request) -> web.Response:
    entries = await request.app[SESSIONS].store.audit_log()
    return web.json_response([{"at": e.at, "name": e.name, "address": e.address, "outcome": e.outcome}
                              for e in entries])


def add_pages(app: web.Application, sessions: Sessions, *, secure_cookies: bool = True,
              desks: dict[str, str] | None = None, wrap_up: dict[str, float] | None = None) -> None:
    """`desks`: each desk's name and label (营商环境专席); `wrap_up`: its seconds of after-call work."""
    app[SESSIONS] = sessions
    app[DESK_LABELS] = dict(desks or {})
    app[DESK_WRAP_UP] = dict(wrap_up or {})
    app[SECURE_COOKIES] = secure_cookies
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/", home)
    app.router.add_get("/admin", admin_page)
    app.router.add_get("/wallboard", wallboard)
    app.router.add_get("/desk", desk)
    app.router.add_get("/console", console)
    app.router.add_get("/recordings", recordings_page)
    app.router.add_post("/admin", admin_post)
    app.router.add_get("/api/session", session_info)
    app.router.add_get("/api/users", users_list)
    app.router.add_post("/api/users", users_add)
    app.router.add_get("/api/users/audit", users_audit)
    app.router.add_post("/api/users/{name}/{action}", users_action)
    app.router.add_static("/static/", Path(__file__).with_name("static"))
