"""Issue 14, item 7: bad input never answers 5xx. Each request below goes to the served API
(real HTTP on loopback, the controller's app and SQLite store: tests/web/served_api.py) as an
attacker would send it, byte for byte; each must answer a 4xx whose body is the API's error
shape `{"error": <stable code>, "detail": …}`, and change nothing (every row of every table of
the store, the agents' states and the do-not-call list are compared before and after; a write
aimed at an order also reads that order before and after).

Accepted answers, per kind of input (the issue names the codes):
- malformed or out-of-range values, text with lone surrogates, bodies in an unknown charset or
  not UTF-8: 400 `bad-request` or `validation-failed`;
- cursors the search never handed out (huge row ids, far dates, deep nesting, not base64):
  400 `bad-cursor` (or `validation-failed`, the code a refused cursor had so far);
- due_before / due_after and ?day= at the ends of the calendar: 400, or 200 with a well-formed
  answer where the moment exists in the city's zone (a search for orders due before year 1
  finds none) — never the 500 of adding 8 hours to year 1 or 9999;
- a filter no order can match (a lone surrogate in ?caller=): 400, or 200 with nothing found;
- a non-Latin-1 Authorization header: 400 `bad-request` or 401 `unauthorized` on a protected
  route; on the public OpenAPI document 400, or 200 with the document (the header does not
  matter there);
- a number in the path that no order or list entry can have: 400 or 404;
- 100k-deep JSON: 400, or 413 where the body limit is below its size;
- a body over the size limit: 413, on every POST and PATCH route, whether or not the handler
  reads a body;
- raw non-ASCII bytes in the request line: aiohttp's HTTP parser refuses them before the app
  runs; its plain-text 400 is accepted there;
- a body that never arrives: an answer (408) or a closed connection within a bounded time (the
  app's `read_timeout`, passed as 2 s where make_app takes it; 60 s at most).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.web.served_api import AGENT_ID, CALLER, Answer, Served, ServedInThread, http_raw, serve_api
from web.access import AGENT, OWN, RULES

BAD = frozenset({"bad-request", "validation-failed"})
CURSOR = frozenset({"bad-cursor", "validation-failed"})
UNAUTHORIZED = frozenset({"bad-request", "unauthorized"})
NOT_FOUND = frozenset({"bad-request", "validation-failed", "not-found", "unknown-order", "not-on-list",
                       "unknown-agent", "unknown-operation", "unknown-action"})
BIG = 4 * 1024 * 1024 + 1  # over any sensible limit (aiohttp's default is 1 MiB)
ORDER = {"caller_number": CALLER, "category": "complaint", "topic": "city", "area": "西湖区",
         "content": "夜间施工噪音"}
SURROGATE = "噪音\ud800施工"  # json.dumps writes it as the JSON text "\u566a\u97f3\ud800\u65bd\u5de5"


@dataclass(frozen=True)
class Route:
    """A served route: its method and canonical path (the access rule's key), and the target
    to request, with {new}, {accepted}, … standing for the seeded order in that state."""

    method: str
    canonical: str
    target: str
    body: dict[str, Any] = field(default_factory=dict)  # a valid body for this route

    def roles(self) -> list[str]:
        rule = RULES.get((self.method, self.canonical))
        agent_allowed = rule == AGENT or (rule == OWN and AGENT_ID in self.target)
        return ["supervisor", "agent"] if agent_allowed else ["supervisor"]


CREATE = Route("POST", "/api/orders", "/api/orders", ORDER)
PATCH = Route("PATCH", "/api/orders/{number}", "/api/orders/{new}", {"content": "更正: 夜间施工噪音"})
LINK = Route("POST", "/api/orders/{number}/calls", "/api/orders/{new}/calls", {"linkedid": "seed-call-5"})
ANSWER = Route("POST", "/api/orders/{number}/{action}", "/api/orders/{new}/answer_directly", {"note": "已答复"})
DISPATCH = Route("POST", "/api/orders/{number}/{action}", "/api/orders/{new}/dispatch", {"department": "urban"})
FOLLOW_UP = Route("POST", "/api/orders/{number}/{action}", "/api/orders/{replied}/follow_up",
                  {"follow_up_result": "dissatisfied", "note": "市民不满意"})
PAUSE = Route("POST", "/api/agents/{agent_id}/{op}", f"/api/agents/{AGENT_ID}/pause", {"reason": "meal"})
DO_NOT_CALL = Route("POST", "/api/callbacks/do-not-call", "/api/callbacks/do-not-call",
                    {"number": "13800009999", "note": "市民要求不再回拨"})
BODY_ROUTES = [CREATE, PATCH, LINK, ANSWER, FOLLOW_UP, PAUSE, DO_NOT_CALL]
WRITE_ROUTES = BODY_ROUTES + [DISPATCH] + [
    Route("POST", "/api/agents/{agent_id}/{op}", f"/api/agents/{AGENT_ID}/{op}") for op in ("login", "ready", "logout")]


def with_roles(cases: list[tuple[Any, ...]], ids: list[str], route_of: Any) -> list[Any]:
    """Each case once per role its route allows (supervisor, and agent where agents may)."""
    return [pytest.param(*case, role, id=f"{name}-{role}")
            for case, name in zip(cases, ids) for role in route_of(case).roles()]


# ---- the served API: one for the module (its state is compared around every request) ----

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedInThread]:
    served = ServedInThread(tmp_path_factory.mktemp("bad-input"))
    with served:
        yield served


@pytest.fixture
def served(server: ServedInThread) -> Served:
    assert server.served is not None
    return server.served


def fill(target: str, served: Served) -> str:
    for state, number in served.seeded.items():
        target = target.replace("{" + state + "}", number)
    return target


def assert_error_shape(answer: Answer, statuses: set[int] | frozenset[int], codes: frozenset[str] | None,
                       logs: str, *, parser_may_refuse: bool = False) -> None:
    """`parser_may_refuse`: the request line holds bytes aiohttp's HTTP parser (llhttp) refuses
    before any middleware runs; its own plain-text 400 is then a right answer too."""
    context = f"\n--- answer: {answer}\n--- server log:\n{logs or '(nothing logged)'}"
    assert answer.status is not None, f"no answer at all{context}"
    assert answer.status < 500, f"a server error{context}"
    assert answer.status in statuses, f"expected {sorted(statuses)}{context}"
    if answer.status < 400:
        return
    if parser_may_refuse and answer.status == 400 and answer.headers.get("content-type", "").startswith("text/plain"):
        return
    assert answer.headers.get("content-type", "").startswith("application/json"), f"not JSON{context}"
    try:
        body = answer.json()
    except ValueError:
        raise AssertionError(f"the body is not JSON{context}") from None
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and "detail" in body, \
        f"not the error shape {{'error': <code>, 'detail': …}}{context}"
    if codes is not None:
        assert body["error"] in codes, f"code {body['error']!r}, expected one of {sorted(codes)}{context}"


async def attempt(server: ServedInThread, method: str, target: str | bytes, *, role: str | None = "supervisor",
                  headers: Sequence[tuple[str | bytes, str | bytes]] | None = None, body: bytes | None = None,
                  statuses: set[int] | frozenset[int] = frozenset({400}), codes: frozenset[str] | None = BAD,
                  chunked: bool = False, reads: Sequence[str] = ()) -> Answer:
    """Send one request; assert the answer and that nothing changed. `reads`: targets GET
    before and after (the order a write was aimed at), which must read the same."""
    served = server.served
    assert served is not None
    sent_headers: list[tuple[str | bytes, str | bytes]] = []
    if role is not None:
        sent_headers += list(served.headers(role).items())
    sent_headers += headers or []
    if isinstance(target, str):
        target = fill(target, served)
    reads = [fill(r, served) for r in reads]
    before, read_before = server.call(served.snapshot()), [await _read(served, r) for r in reads]
    mark = served.log_mark()
    try:
        answer = await http_raw(served.port, method, target, sent_headers, body, chunked=chunked)
        logs = served.log_text(mark)
        assert_error_shape(answer, statuses, codes, logs, parser_may_refuse=not target.isascii())
        after, read_after = server.call(served.snapshot()), [await _read(served, r) for r in reads]
        assert read_after == read_before, f"the order changed\n--- server log:\n{logs}"
        assert after == before, f"the request changed the store or the engine ({answer})\n--- server log:\n{logs}"
    finally:  # an agent this request logged in (a bug) must not change what the next test sees
        server.call(_log_out_all(served))
    return answer


async def _log_out_all(served: Served) -> None:
    for agent in served.engine.agents():
        if agent.state != "logged_out":
            await served.engine.request("logout", agent.agent_id, "")


async def _read(served: Served, target: str) -> Any:
    answer = await http_raw(served.port, "GET", target, list(served.headers().items()))
    assert answer.status == 200, str(answer)
    return answer.json()


def json_bytes(value: Any) -> bytes:
    """JSON text as Python writes it: ASCII, a lone surrogate as the escape \\ud800."""
    return json.dumps(value).encode()


JSON: list[tuple[str | bytes, str | bytes]] = [("Content-Type", "application/json")]


# ---- a non-Latin-1 Authorization header ------------------------------------------------------

AUTHORIZATIONS = {
    "utf8-chinese": b"Bearer \xe4\xbd\xa0\xe5\xa5\xbd",  # 你好
    "not-utf8": b"Bearer \xff\xfe\xfd",
    "surrogate-bytes": b"Bearer \xed\xa0\x80",
    "scheme-chinese": b"\xe4\xbd\xa0\xe5\xa5\xbd token",
}


@pytest.mark.parametrize("header", list(AUTHORIZATIONS.values()), ids=list(AUTHORIZATIONS))
@pytest.mark.parametrize("method, target, body", [
    ("GET", "/api/orders", None),
    ("GET", "/api/desks", None),
    ("POST", "/api/orders", json_bytes(ORDER)),
    ("POST", "/api/callbacks/do-not-call", json_bytes(DO_NOT_CALL.body)),
], ids=["search", "desks", "create", "do-not-call"])
async def test_a_non_latin1_authorization_header_on_a_protected_route(
        server: ServedInThread, method: str, target: str, body: bytes | None, header: bytes) -> None:
    await attempt(server, method, target, role=None, headers=[("Authorization", header), *JSON], body=body,
                  statuses={400, 401}, codes=UNAUTHORIZED)


@pytest.mark.parametrize("header", list(AUTHORIZATIONS.values()), ids=list(AUTHORIZATIONS))
async def test_a_non_latin1_authorization_header_on_the_public_document(server: ServedInThread, header: bytes) -> None:
    answer = await attempt(server, "GET", "/api/openapi.json", role=None, headers=[("Authorization", header)],
                           statuses={200, 400}, codes=frozenset({"bad-request"}))
    if answer.status == 200:
        assert answer.json()["openapi"].startswith("3.")


async def test_a_valid_token_followed_by_a_chinese_character_is_no_token(server: ServedInThread,
                                                                        served: Served) -> None:
    header = f"Bearer {served.supervisor}".encode() + "你".encode()
    await attempt(server, "GET", "/api/orders", role=None, headers=[("Authorization", header)],
                  statuses={400, 401}, codes=UNAUTHORIZED)


# ---- paging: offset, limit and cursors --------------------------------------------------------

@pytest.mark.parametrize("query", [
    "offset=9223372036854775808",  # 2^63: SQLite's INTEGER ends at 2^63 - 1
    "offset=18446744073709551616",  # 2^64
    f"offset={10 ** 30}",
    "offset=-1",
    f"limit={10 ** 30}",
    "limit=9223372036854775808",
    "limit=0",
    f"offset={'9' * 5000}",  # longer than int() converts
], ids=["offset-2^63", "offset-2^64", "offset-1e30", "offset-negative", "limit-1e30", "limit-2^63", "limit-0",
        "offset-5000-digits"])
@pytest.mark.parametrize("role", ["supervisor", "agent"])
async def test_offset_and_limit_out_of_range(server: ServedInThread, query: str, role: str) -> None:
    await attempt(server, "GET", f"/api/orders?{query}", role=role)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor(*document: Any) -> str:
    return b64(json.dumps(list(document)).encode())


WHEN = "2026-11-01T00:00:00+00:00"
CURSORS = {
    "row-id-2^63": cursor("created_at", "desc", WHEN, 2 ** 63),
    "row-id-2^64": cursor("created_at", "desc", WHEN, 2 ** 64),
    "row-id-1e30": cursor("created_at", "desc", WHEN, 10 ** 30),
    "row-id-minus-2^63-1": cursor("created_at", "desc", WHEN, -2 ** 63 - 1),
    "row-id-4000-digits": b64(f'["created_at", "desc", "{WHEN}", {"9" * 4000}]'.encode()),
    "row-id-5000-digits": b64(f'["created_at", "desc", "{WHEN}", {"9" * 5000}]'.encode()),
    "row-id-nan": b64(f'["created_at", "desc", "{WHEN}", NaN]'.encode()),
    "year-1-zoned": cursor("created_at", "desc", "0001-01-01T00:00:00+08:00", 1),
    "year-1-naive": cursor("created_at", "desc", "0001-01-01T00:00:00", 1),
    "year-9999-zoned": cursor("created_at", "desc", "9999-12-31T23:59:59-14:00", 1),
    "year-9999-naive": cursor("created_at", "desc", "9999-12-31T23:59:59", 1),
    "year-275760": cursor("created_at", "desc", "+275760-09-13T00:00:00Z", 1),
    "deeply-nested": b64(("[" * 2000 + "]" * 2000).encode()),
    "nested-key": cursor("created_at", "desc", [[[[WHEN]]]], 1),
    "nested-row-id": cursor("created_at", "desc", WHEN, [[[[1]]]]),
    "surrogate-key": b64(b'["created_at", "desc", "\\ud800", 1]'),
    "not-base64": "!!!***",
    "chinese": "你好",
    "one-char": "a",
    "base64-of-bytes": b64(b"\xff\xfe\x00\x01"),
    "base64-of-text": b64(b"hello, world"),
    "base64-of-nothing": "",
    "json-object": b64(b'{"sort": "created_at"}'),
    "json-null": b64(b"null"),
    "json-huge-float": b64(b"1e400"),
    "other-sort": cursor("due_at", "asc", WHEN, 1),
}


@pytest.mark.parametrize("value", list(CURSORS.values()), ids=list(CURSORS))
@pytest.mark.parametrize("target, role", [("/api/orders", "supervisor"), ("/api/orders", "agent"),
                                          ("/api/orders.csv", "supervisor")], ids=["search", "search-agent", "csv"])
async def test_a_cursor_the_search_never_handed_out(server: ServedInThread, target: str, role: str,
                                                     value: str) -> None:
    if not value:  # an empty cursor is no cursor: the first page
        answer = await attempt(server, "GET", f"{target}?cursor=", role=role, statuses={200})
        assert answer.status == 200
        return
    await attempt(server, "GET", f"{target}?cursor={quote(value)}", role=role, codes=CURSOR)


async def test_a_surrogate_in_a_number_cursor(server: ServedInThread) -> None:
    """Sorted by number the cursor's key is text: a lone surrogate in it reaches the database."""
    value = b64(b'["number", "desc", "\\ud800", 1]')
    await attempt(server, "GET", f"/api/orders?sort=number&cursor={value}", codes=CURSOR)


# ---- far dates: due_before / due_after, ?day= -------------------------------------------------

FAR = ["0001-01-01T00:00:00", "0001-01-01T00:00:00+08:00", "0001-01-01T00:00:00Z",
       "9999-12-31T23:59:59", "9999-12-31T23:59:59-08:00", "9999-12-31T23:59:59+14:00",
       "+275760-09-13T00:00:00Z", "0000-01-01T00:00:00Z"]


@pytest.mark.parametrize("value", FAR)
@pytest.mark.parametrize("name", ["due_before", "due_after"])
@pytest.mark.parametrize("target, role", [("/api/orders", "supervisor"), ("/api/orders", "agent"),
                                          ("/api/orders.csv", "supervisor")], ids=["search", "search-agent", "csv"])
async def test_a_due_filter_at_the_ends_of_the_calendar(server: ServedInThread, target: str, role: str,
                                                         name: str, value: str) -> None:
    """400, or 200 where the moment is one the server can represent (a search for orders due
    before year 1 finds none); never a 500 from adding the city's 8 hours to year 1 or 9999."""
    answer = await attempt(server, "GET", f"{target}?{name}={quote(value)}", role=role, statuses={200, 400})
    if answer.status == 200 and target == "/api/orders":
        assert isinstance(answer.json().get("orders"), list), str(answer)


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "+275760-09-13", "0000-01-01"])
@pytest.mark.parametrize("target", ["/api/figures", "/api/callbacks/figures"])
async def test_a_day_at_the_ends_of_the_calendar(server: ServedInThread, target: str, day: str) -> None:
    """400, or 200 with that day's figures (zero) where the day's bounds exist in the city's zone."""
    answer = await attempt(server, "GET", f"{target}?day={quote(day)}", statuses={200, 400})
    if answer.status == 200:
        assert answer.json().get("day") == day, str(answer)


# ---- text with lone surrogates, in every text field -------------------------------------------

SURROGATE_CASES: list[tuple[Route, dict[str, Any]]] = [
    *[(CREATE, {**ORDER, f: SURROGATE}) for f in
      ("caller_number", "contact_number", "category", "topic", "area", "content", "linkedid", "by")],
    *[(PATCH, {f: SURROGATE}) for f in ("contact_number", "category", "topic", "area", "content")],
    (PATCH, {"content": "更正", "by": SURROGATE}),
    (PATCH, {SURROGATE: "x"}),
    (ANSWER, {"note": SURROGATE}),
    (ANSWER, {"by": SURROGATE}),
    (DISPATCH, {"department": SURROGATE}),
    (DISPATCH, {"department": "urban", "note": SURROGATE}),
    (FOLLOW_UP, {"follow_up_result": SURROGATE}),
    (FOLLOW_UP, {"follow_up_result": "satisfied", "note": SURROGATE}),
    (FOLLOW_UP, {"follow_up_result": "satisfied", "by": SURROGATE}),
    (LINK, {"linkedid": SURROGATE}),
    (DO_NOT_CALL, {"number": "13800009999\ud800"}),
    (DO_NOT_CALL, {"number": "13800009999", "note": SURROGATE}),
    (PAUSE, {"reason": "meal\ud800"}),
]


def _surrogate_id(route: Route, body: dict[str, Any]) -> str:
    fields = ["key" if "\ud800" in k else k for k, v in body.items() if "\ud800" in k or "\ud800" in str(v)]
    return f"{route.method.lower()}-{route.target.rsplit('/', 1)[-1].strip('{}')}-{'+'.join(fields)}"


SURROGATE_IDS = [_surrogate_id(route, body) for route, body in SURROGATE_CASES]


@pytest.mark.parametrize("route, body, role", with_roles(SURROGATE_CASES, SURROGATE_IDS, lambda c: c[0]))
async def test_a_lone_surrogate_in_a_text_field(server: ServedInThread, route: Route, body: dict[str, Any],
                                                role: str) -> None:
    raw = json_bytes(body)
    assert b"\\ud800" in raw  # the JSON text holds the escape itself
    forbidden = role == "agent" and "by" in body  # an agent acting under another name: 403 is right too
    await attempt(server, route.method, route.target, role=role, headers=JSON, body=raw,
                  statuses={400, 403} if forbidden else {400},
                  codes=BAD | {"forbidden"} if forbidden else BAD, reads=_reads(route))


def _reads(route: Route) -> list[str]:
    """The order a write to this route aims at, read before and after."""
    target = route.target
    if not target.startswith("/api/orders/"):
        return []
    return ["/".join(target.split("/")[:4])]


# ---- bodies in an unknown charset, not UTF-8, or deeper than any parser goes --------------------

BODY_IDS = ["create", "patch", "link-call", "answer-directly", "follow-up", "pause", "do-not-call"]


def _id(route: Route) -> str:
    return BODY_IDS[BODY_ROUTES.index(route)] if route in BODY_ROUTES else route.target.rsplit("/", 1)[-1]


ENCODINGS: dict[str, tuple[str, Any]] = {
    # a valid body: the server cannot know what its bytes mean
    "charset-klingon": ("application/json; charset=klingon", None),
    "charset-x-unknown": ("application/json; charset=x-user-defined-12345", None),
    # bytes that are not UTF-8 where UTF-8 is announced (or implied)
    "latin1-bytes": ("application/json", b'{"note": "caf\xe9", "content": "caf\xe9", "reason": "\xe9"}'),
    "latin1-bytes-utf8-declared": ("application/json; charset=utf-8", b'{"number": "\xff\xfe"}'),
    "surrogate-bytes": ("application/json", b'{"content": "\xed\xa0\x80", "reason": "\xed\xa0\x80"}'),
    "utf16-bytes": ("application/json", '{"reason": "meal"}'.encode("utf-16")),
}


@pytest.mark.parametrize("encoding", list(ENCODINGS), ids=list(ENCODINGS))
@pytest.mark.parametrize("route, role", with_roles([(r,) for r in BODY_ROUTES], BODY_IDS, lambda c: c[0]))
async def test_a_body_in_an_unknown_charset_or_not_utf8(server: ServedInThread, route: Route, role: str,
                                                        encoding: str) -> None:
    content_type, raw = ENCODINGS[encoding]
    await attempt(server, route.method, route.target, role=role, headers=[("Content-Type", content_type)],
                  body=raw if raw is not None else json_bytes(route.body), reads=_reads(route))


DEEP = {
    "open-arrays": b"[" * 100_000,
    "balanced-arrays": b"[" * 100_000 + b"]" * 100_000,
    "in-a-field": b'{"content": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "objects": b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
}


@pytest.mark.parametrize("shape", list(DEEP), ids=list(DEEP))
@pytest.mark.parametrize("route, role", with_roles([(r,) for r in BODY_ROUTES], BODY_IDS, lambda c: c[0]))
async def test_json_nested_100k_deep(server: ServedInThread, route: Route, role: str, shape: str) -> None:
    """400; or 413 when the server's body limit is below the body's size (200 kB at most)."""
    await attempt(server, route.method, route.target, role=role, headers=JSON, body=DEEP[shape],
                  statuses={400, 413}, codes=None, reads=_reads(route))


# ---- bodies over the size limit: 413 on every POST and PATCH -----------------------------------

WRITE_IDS = ["create", "patch", "link-call", "answer-directly", "follow-up", "pause", "do-not-call", "dispatch",
             "login", "ready", "logout"]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("route, role", with_roles([(r,) for r in WRITE_ROUTES], WRITE_IDS, lambda c: c[0]))
async def test_a_body_over_the_size_limit(server: ServedInThread, route: Route, role: str, chunked: bool) -> None:
    """A valid body padded with a 4 MiB field: 413 whatever the route does with its body (the
    agent routes but pause never read one)."""
    body = json_bytes({**route.body, "content": "x" * BIG}) if route.body else json_bytes({"pad": "x" * BIG})
    await attempt(server, route.method, route.target, role=role, headers=JSON, body=body, chunked=chunked,
                  statuses={413}, codes=None, reads=_reads(route))


# ---- lone surrogates and bytes that are not UTF-8 in the path and the query --------------------

PATHS: dict[str, tuple[str, str | bytes, dict[str, Any] | None]] = {
    "order-percent": ("GET", "/api/orders/%ED%A0%80", None),
    "order-raw-bytes": ("GET", b"/api/orders/\xed\xa0\x80", None),
    "order-not-utf8": ("GET", b"/api/orders/\xff\xfe", None),
    "patch-raw-bytes": ("PATCH", b"/api/orders/\xed\xa0\x80", {"content": "更正"}),
    "link-raw-bytes": ("POST", b"/api/orders/\xed\xa0\x80/calls", {"linkedid": "seed-call-1"}),
    "answer-raw-bytes": ("POST", b"/api/orders/\xed\xa0\x80/answer_directly", {}),
    "do-not-call-percent": ("DELETE", "/api/callbacks/do-not-call/%ED%A0%80", None),
    "do-not-call-raw-bytes": ("DELETE", b"/api/callbacks/do-not-call/\xed\xa0\x80", None),
    "do-not-call-not-utf8": ("DELETE", b"/api/callbacks/do-not-call/\xff", None),
    "agent-call-raw-bytes": ("GET", b"/api/agents/\xed\xa0\x80/call", None),
    "agent-login-raw-bytes": ("POST", b"/api/agents/\xed\xa0\x80/login", None),
}


@pytest.mark.parametrize("name, role", [pytest.param(name, role, id=f"{role}-{name}") for name in PATHS
                                        for role in ("supervisor", "agent")
                                        if role == "supervisor" or "do-not-call" not in name])
async def test_a_lone_surrogate_in_the_path(server: ServedInThread, name: str, role: str) -> None:
    method, target, body = PATHS[name]
    on_agent_seat = b"/api/agents/" in (target if isinstance(target, bytes) else target.encode())
    await attempt(server, method, target, role=role, headers=JSON if body is not None else [],
                  body=json_bytes(body) if body is not None else None,
                  statuses={400, 403, 404} if on_agent_seat and role == "agent" else {400, 404},
                  codes=NOT_FOUND | ({"forbidden"} if on_agent_seat and role == "agent" else set()))


QUERIES: dict[str, tuple[str, str]] = {
    "records-caller": ("/api/records?caller=", "agent"),
    "search-caller": ("/api/orders?caller=", "agent"),
    "search-state": ("/api/orders?state=", "agent"),
    "search-category": ("/api/orders?category=", "agent"),
    "search-department": ("/api/orders?department=", "agent"),
    "csv-caller": ("/api/orders.csv?caller=", "supervisor"),
}


@pytest.mark.parametrize("value", [b"\xed\xa0\x80", b"\xff\xfe", b"%ED%A0%80", b"%FF"],
                         ids=["raw-surrogate", "raw-not-utf8", "percent-surrogate", "percent-not-utf8"])
@pytest.mark.parametrize("name", list(QUERIES))
async def test_a_lone_surrogate_in_a_query_filter(server: ServedInThread, name: str, value: bytes) -> None:
    """No order or record can match such a number: 400, or 200 with nothing found."""
    target, role = QUERIES[name]
    answer = await attempt(server, "GET", target.encode() + value, role=role, statuses={200, 400})
    if answer.status == 200 and not name.startswith("csv"):
        found = answer.json()
        assert found.get("orders", found.get("records")) == [], str(answer)


# ---- a body that never arrives -----------------------------------------------------------------

@pytest.fixture
async def own_server(tmp_path: Path) -> Any:
    """A server of this test's own (in its event loop) with a short body timeout, where the app
    takes one (`read_timeout`); connections held open must not outlive the test."""
    async with serve_api(tmp_path, read_timeout=2.0) as served:
        yield served


async def test_a_body_that_never_arrives_is_answered_or_the_connection_closed(own_server: Served) -> None:
    """Headers announce 1000 bytes, 10 arrive, then nothing: within a generous ceiling (60 s)
    the server answers (408) or hangs up, on every route that takes a body, and nothing is
    written."""
    served = own_server
    before = await served.snapshot()
    mark = served.log_mark()

    async def hold(route: Route) -> tuple[Route, Answer | BaseException]:
        headers = [*served.headers().items(), *JSON]
        target = fill(route.target, served)
        try:
            return route, await http_raw(served.port, route.method, target, headers, json_bytes(route.body)[:10],
                                         content_length=1000, close=False, timeout=60.0)
        except TimeoutError as exc:
            return route, exc

    results = await asyncio.gather(*(hold(route) for route in BODY_ROUTES))
    logs = served.log_text(mark)
    waited = [route.target for route, answer in results if isinstance(answer, BaseException)]
    assert not waited, f"still waiting for the body after 60 s: {waited}\n--- server log:\n{logs}"
    for route, answer in results:
        assert isinstance(answer, Answer)
        if answer.status is not None:  # answered rather than hung up
            assert_error_shape(answer, {400, 408}, None, logs)
    assert await served.snapshot() == before


# ---- supervision (web/supervision.py): refusals with stable codes that change nothing ---------

SUPERVISION_CASES: dict[str, tuple[str, str, dict[str, Any] | None, str, int, str]] = {
    # name: (method, target, body, role, status, code)
    "monitor-as-agent": ("POST", "/api/monitor", {"agent": AGENT_ID, "mode": "listen"}, "agent", 403, "forbidden"),
    "monitor-list-as-agent": ("GET", "/api/monitor", None, "agent", 403, "forbidden"),
    "monitor-agent-not-on-call": ("POST", "/api/monitor", {"agent": AGENT_ID, "mode": "listen"}, "supervisor", 409,
                                  "agent-not-on-call"),
    "monitor-phone-not-registered": ("POST", "/api/monitor", {"agent": AGENT_ID, "mode": "whisper",
                                                              "supervisor": "super2002"}, "supervisor", 409,
                                     "phone-not-registered"),
    "monitor-unknown-supervisor": ("POST", "/api/monitor", {"agent": AGENT_ID, "supervisor": "nobody"}, "supervisor",
                                   404, "unknown-supervisor"),
    "monitor-unknown-agent": ("POST", "/api/monitor", {"agent": "agent9999", "mode": "barge"}, "supervisor", 404,
                              "unknown-agent"),
    "monitor-bad-mode": ("POST", "/api/monitor", {"agent": AGENT_ID, "mode": "shout"}, "supervisor", 400,
                         "validation-failed"),
    "mode-unknown-session": ("POST", "/api/monitor/1-1/mode", {"mode": "barge"}, "supervisor", 404, "unknown-session"),
    "mode-bad-session-id": ("POST", "/api/monitor/abc/mode", {"mode": "barge"}, "supervisor", 404, "unknown-session"),
    "stop-unknown-session": ("POST", "/api/monitor/1-1/stop", None, "supervisor", 404, "unknown-session"),
    "force-as-agent": ("POST", f"/api/supervision/agents/{AGENT_ID}/force", {"op": "pause", "reason": "质检"},
                       "agent", 403, "forbidden"),
    "force-blank-reason": ("POST", f"/api/supervision/agents/{AGENT_ID}/force", {"op": "pause", "reason": " "},
                           "supervisor", 400, "validation-failed"),
    "force-bad-op": ("POST", f"/api/supervision/agents/{AGENT_ID}/force", {"op": "ready", "reason": "x"},
                     "supervisor", 400, "validation-failed"),
    "force-unknown-agent": ("POST", "/api/supervision/agents/agent9999/force", {"op": "pause", "reason": "x"},
                            "supervisor", 404, "unknown-agent"),
    "force-logout-logged-out": ("POST", f"/api/supervision/agents/{AGENT_ID}/force", {"op": "logout", "reason": "x"},
                                "supervisor", 409, "illegal-transition"),
    "hangup-unknown-call": ("POST", "/api/supervision/calls/1764000000.1/hangup", {"reason": "紧急"}, "supervisor",
                            404, "unknown-call"),
    "hangup-no-reason": ("POST", "/api/supervision/calls/1764000000.1/hangup", {}, "supervisor", 400,
                         "validation-failed"),
    "hangup-as-agent": ("POST", "/api/supervision/calls/1764000000.1/hangup", {"reason": "紧急"}, "agent", 403,
                        "forbidden"),
    "audit-as-agent": ("GET", "/api/supervision/audit", None, "agent", 403, "forbidden"),
}


@pytest.mark.parametrize("name", list(SUPERVISION_CASES))
async def test_supervision_refusals_have_stable_codes_and_change_nothing(server: ServedInThread, name: str) -> None:
    method, target, body, role, status, code = SUPERVISION_CASES[name]
    await attempt(server, method, target, role=role, headers=JSON if body is not None else [],
                  body=json_bytes(body) if body is not None else None, statuses={status}, codes=frozenset({code}))
    assert server.served is not None and server.served.engine.supervision.live == {}


# ---- three-way calls and transfers (acd/handover.py): refusals that change nothing -------------

HANDOVER_CASES: dict[str, tuple[str, str, dict[str, Any] | None, str, int, str]] = {
    # name: (method, target, body, role, status, code); the agent token acts as AGENT_ID, who has no call
    "threeway-no-call": ("POST", f"/api/agents/{AGENT_ID}/threeway", {"kind": "emergency", "target": "110"},
                         "agent", 409, "no-call"),
    "threeway-other-agent": ("POST", "/api/agents/agent1002/threeway", {"kind": "emergency", "target": "110"},
                             "agent", 403, "forbidden"),
    "threeway-unknown-agent": ("POST", "/api/agents/agent9999/threeway", {"kind": "emergency", "target": "110"},
                               "supervisor", 404, "unknown-agent"),
    "threeway-bad-kind": ("POST", f"/api/agents/{AGENT_ID}/threeway", {"kind": "desk", "target": "market"},
                          "agent", 400, "validation-failed"),
    "threeway-no-target": ("POST", f"/api/agents/{AGENT_ID}/threeway", {"kind": "emergency"}, "agent", 400,
                           "validation-failed"),
    "transfer-no-call": ("POST", f"/api/agents/{AGENT_ID}/transfer", {"kind": "desk", "target": "general"},
                         "agent", 409, "no-call"),
    "transfer-unknown-desk": ("POST", f"/api/agents/{AGENT_ID}/transfer", {"kind": "desk", "target": "nowhere"},
                              "agent", 400, "unknown-desk"),
    "transfer-unknown-agent": ("POST", f"/api/agents/{AGENT_ID}/transfer", {"kind": "agent", "target": "agent9999"},
                               "agent", 400, "unknown-target-agent"),
    "transfer-to-self": ("POST", f"/api/agents/{AGENT_ID}/transfer", {"kind": "agent", "target": AGENT_ID},
                         "agent", 400, "transfer-to-self"),
    "handover-none": ("GET", f"/api/agents/{AGENT_ID}/handover", None, "agent", 404, "no-handover"),
    "handover-step-none": ("POST", f"/api/agents/{AGENT_ID}/handover/join", None, "agent", 409, "no-handover"),
    "handover-step-unknown": ("POST", f"/api/agents/{AGENT_ID}/handover/fly", None, "agent", 404, "unknown-step"),
    "handover-other-agent": ("GET", "/api/agents/agent1002/handover", None, "agent", 403, "forbidden"),
}


@pytest.mark.parametrize("name", list(HANDOVER_CASES))
async def test_handover_refusals_have_stable_codes_and_change_nothing(server: ServedInThread, name: str) -> None:
    method, target, body, role, status, code = HANDOVER_CASES[name]
    await attempt(server, method, target, role=role, headers=JSON if body is not None else [],
                  body=json_bytes(body) if body is not None else None, statuses={status}, codes=frozenset({code}))
    assert server.served is not None and server.served.engine.handovers.by_call == {}


@pytest.mark.parametrize("phone", ["139-0000-1111", "12", "1" * 21, "１３９００００１１１１", 13900001111],
                         ids=["separators", "too-short", "too-long", "fullwidth-digits", "a-number-not-text"])
async def test_a_login_on_an_ordinary_phone_with_a_number_that_is_not_one(server: ServedInThread, phone: Any) -> None:
    assert server.served is not None
    before = [(a.agent_id, a.state) for a in server.served.engine.agents()]
    await attempt(server, "POST", f"/api/agents/{AGENT_ID}/login", role="agent", headers=JSON,
                  body=json_bytes({"phone": phone}), statuses={400}, codes=frozenset({"validation-failed"}))
    assert [(a.agent_id, a.state) for a in server.served.engine.agents()] == before


@pytest.mark.parametrize("body", [{"persistent": True}, {"persistent": "yes", "phone": "13900001111"}],
                         ids=["no-phone", "not-a-boolean"])
async def test_a_persistent_line_needs_an_ordinary_phone_and_a_yes_or_no(server: ServedInThread, body: Any) -> None:
    assert server.served is not None
    before = [(a.agent_id, a.state, a.line) for a in server.served.engine.agents()]
    code = "persistent-line-needs-phone" if "phone" not in body else "validation-failed"
    await attempt(server, "POST", f"/api/agents/{AGENT_ID}/login", role="agent", headers=JSON,
                  body=json_bytes(body), statuses={400}, codes=frozenset({code}))
    assert [(a.agent_id, a.state, a.line) for a in server.served.engine.agents()] == before
